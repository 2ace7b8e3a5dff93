// Who is signed in: the session comes from an HttpOnly cookie; `me` is read from the API.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import type { Middleware } from "openapi-fetch";
import { api, ok, type Schemas } from "../api/client";

export type Me = Schemas["MePublic"];
export type Role = Me["role"];

interface AuthState {
  loading: boolean;
  hasUsers: boolean;
  /** Self-service sign-up is open (an administrator opened it). */
  signupOpen: boolean;
  me: Me | null;
  refresh: () => Promise<void>;
  signOut: () => Promise<void>;
  /** Developers and admins may edit; viewers only read and run. */
  canEdit: boolean;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [loading, setLoading] = useState(true);
  const [hasUsers, setHasUsers] = useState(true);
  const [signupOpen, setSignupOpen] = useState(false);
  const [me, setMe] = useState<Me | null>(null);

  const refresh = useCallback(async () => {
    try {
      const status = await ok(api.GET("/api/v1/auth/status"));
      const { data, response } = status.has_users
        ? await api.GET("/api/v1/auth/me")
        : { data: undefined, response: null };
      // Set both together so no screen sees "has users" without knowing who is signed in.
      setHasUsers(status.has_users);
      setSignupOpen(status.signup_open);
      setMe(response?.ok && data ? data : null);
    } finally {
      setLoading(false);
    }
  }, []);

  const signOut = useCallback(async () => {
    await api.POST("/api/v1/auth/logout");
    setMe(null);
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // A session that ended (expired, revoked, signed out elsewhere): any API answer 401 outside
  // /auth re-reads who is signed in, and the signed-in screens send the visitor to login.
  useEffect(() => {
    const expiry: Middleware = {
      onResponse({ request, response }) {
        if (response.status === 401 && !new URL(request.url).pathname.startsWith("/api/v1/auth/")) {
          void refresh();
        }
        return response;
      },
    };
    api.use(expiry);
    return () => api.eject(expiry);
  }, [refresh]);

  const canEdit = me !== null && me.role !== "viewer";
  return (
    <AuthContext.Provider value={{ loading, hasUsers, signupOpen, me, refresh, signOut, canEdit }}>
      {children}
    </AuthContext.Provider>
  );
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (state === null) throw new Error("useAuth outside AuthProvider");
  return state;
}
