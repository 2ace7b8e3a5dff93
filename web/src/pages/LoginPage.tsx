import { Navigate, useLocation, useNavigate } from "react-router-dom";
import { api, ok } from "../api/client";
import { AuthForm } from "../auth/AuthForm";
import { useAuth } from "../auth/AuthContext";
import { LoadingState } from "../components/ui";

export default function LoginPage() {
  const { loading, hasUsers, me, refresh } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from ?? "/workflows";

  if (loading) return <LoadingState label="Loading Nexus" />;
  if (!hasUsers) return <Navigate to="/setup" replace />;
  if (me) return <Navigate to={from} replace />;

  return (
    <AuthForm
      title="Sign in"
      submitLabel="Sign in"
      passwordAutocomplete="current-password"
      onSubmit={async (email, password) => {
        await ok(api.POST("/api/v1/auth/login", { body: { email, password } }));
        await refresh();
        navigate(from, { replace: true });
      }}
    />
  );
}
