import { useState } from "react";
import { Navigate, useLocation, useNavigate } from "react-router-dom";
import { api, ok } from "../api/client";
import { AuthForm } from "../auth/AuthForm";
import { useAuth } from "../auth/AuthContext";
import { LoadingState } from "../components/ui";

export default function LoginPage() {
  const { loading, hasUsers, signupOpen, me, refresh } = useAuth();
  const [signingUp, setSigningUp] = useState(false);
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/workflows";

  if (loading) return <LoadingState label="Loading Nexus" />;
  if (!hasUsers) return <Navigate to="/setup" replace />;
  if (me) return <Navigate to={from} replace />;

  if (signingUp && signupOpen) {
    return (
      <AuthForm
        key="signup"
        title="Create an account"
        intro="Sign-up is open on this instance. New accounts join as developers."
        submitLabel="Create account"
        passwordAutocomplete="new-password"
        onSubmit={async (email, password) => {
          await ok(api.POST("/api/v1/auth/signup", { body: { email, password } }));
          await refresh();
          navigate(from, { replace: true });
        }}
        footer={
          <button type="button" className="btn btn-ghost" onClick={() => setSigningUp(false)}>
            I already have an account
          </button>
        }
      />
    );
  }

  return (
    <AuthForm
      key="login"
      title="Sign in"
      submitLabel="Sign in"
      passwordAutocomplete="current-password"
      onSubmit={async (email, password) => {
        await ok(api.POST("/api/v1/auth/login", { body: { email, password } }));
        await refresh();
        navigate(from, { replace: true });
      }}
      footer={
        signupOpen ? (
          <button type="button" className="btn btn-ghost" onClick={() => setSigningUp(true)}>
            Create an account
          </button>
        ) : null
      }
    />
  );
}
