// The sign-in and first-run forms share one layout: a centred glass card with email + password.
import { useState, type FormEvent, type ReactNode } from "react";
import { errorMessage } from "../api/client";
import { Button, GlassPanel } from "../components/ui";

export function AuthForm({
  title,
  intro,
  submitLabel,
  passwordAutocomplete,
  onSubmit,
  footer,
}: {
  title: string;
  intro?: ReactNode;
  submitLabel: string;
  passwordAutocomplete: "current-password" | "new-password";
  onSubmit: (email: string, password: string) => Promise<void>;
  footer?: ReactNode;
}) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onSubmit(email.trim(), password);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="auth-screen">
      <GlassPanel className="auth-card">
        <div className="logo auth-logo" aria-hidden="true">
          NEXUS
        </div>
        <h1>{title}</h1>
        {intro ? <p className="dim">{intro}</p> : null}
        <form onSubmit={submit} className="stack">
          <label className="field">
            <span>Email</span>
            <input
              type="email"
              name="email"
              autoComplete="email"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              autoFocus
            />
          </label>
          <label className="field">
            <span>Password</span>
            <input
              type="password"
              name="password"
              autoComplete={passwordAutocomplete}
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          {error ? (
            <p className="field-error" role="alert">
              {error}
            </p>
          ) : null}
          <Button type="submit" variant="primary" busy={busy}>
            {submitLabel}
          </Button>
        </form>
        {footer}
      </GlassPanel>
    </div>
  );
}
