import { Navigate, useNavigate } from "react-router-dom";
import { api, ok } from "../api/client";
import { AuthForm } from "../auth/AuthForm";
import { useAuth } from "../auth/AuthContext";
import { LoadingState } from "../components/ui";

/** A fresh instance: the first account becomes the administrator. */
export default function FirstRunPage() {
  const { loading, hasUsers, me, refresh } = useAuth();
  const navigate = useNavigate();

  if (loading) return <LoadingState label="Loading Nexus" />;
  if (hasUsers) return <Navigate to={me ? "/workflows" : "/login"} replace />;

  return (
    <AuthForm
      title="Welcome to Nexus"
      intro="This instance has no accounts yet. Create the administrator account to begin."
      submitLabel="Create admin account"
      passwordAutocomplete="new-password"
      onSubmit={async (email, password) => {
        await ok(api.POST("/api/v1/auth/signup", { body: { email, password } }));
        await refresh();
        navigate("/workflows", { replace: true });
      }}
    />
  );
}
