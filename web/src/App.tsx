import { lazy, Suspense, useEffect, type ReactNode } from "react";
import {
  createBrowserRouter,
  createRoutesFromElements,
  Navigate,
  Outlet,
  Route,
  RouterProvider,
  useLocation,
  useNavigate,
} from "react-router-dom";
import { AuthProvider, useAuth } from "./auth/AuthContext";
import { Layout } from "./components/Layout";
import { LoadingState } from "./components/ui";

const LoginPage = lazy(() => import("./pages/LoginPage"));
const FirstRunPage = lazy(() => import("./pages/FirstRunPage"));
const WorkflowsPage = lazy(() => import("./pages/WorkflowsPage"));
const EditorPage = lazy(() => import("./editor/EditorPage"));
const AgentsPage = lazy(() => import("./pages/AgentsPage"));
const AgentBuilderPage = lazy(() => import("./pages/AgentBuilderPage"));
const ChatPage = lazy(() => import("./pages/ChatPage"));
const SettingsPage = lazy(() => import("./pages/SettingsPage"));

/** Signed-in screens; a fresh instance goes to first-run, everyone else to login. */
function Private({ children }: { children: ReactNode }) {
  const { loading, hasUsers, me } = useAuth();
  const location = useLocation();
  if (loading) return <LoadingState label="Loading Nexus" />;
  if (!hasUsers) return <Navigate to="/setup" replace />;
  if (me === null) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  return <Layout>{children}</Layout>;
}

/** Signing out is a page of its own, so that leaving an editor with unsaved changes asks first
 * (the editor's guard blocks the navigation here; "Stay" keeps the session). */
function SignOut() {
  const { signOut } = useAuth();
  const navigate = useNavigate();
  useEffect(() => {
    void signOut().finally(() => navigate("/login", { replace: true }));
  }, [signOut, navigate]);
  return <LoadingState label="Signing out" />;
}

/** Lazy pages load under one Suspense boundary. */
function Root() {
  return (
    <Suspense fallback={<LoadingState label="Loading" />}>
      <Outlet />
    </Suspense>
  );
}

// A data router, so that the editor can block leaving with unsaved changes (useBlocker), the
// browser's Back button included.
const router = createBrowserRouter(
  createRoutesFromElements(
    <Route element={<Root />}>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/setup" element={<FirstRunPage />} />
      <Route path="/signout" element={<SignOut />} />
      <Route path="/" element={<Navigate to="/workflows" replace />} />
      <Route path="/workflows" element={<Private><WorkflowsPage /></Private>} />
      <Route path="/workflows/:workflowId" element={<Private><EditorPage /></Private>} />
      <Route path="/workflows/:workflowId/runs/:runId" element={<Private><EditorPage /></Private>} />
      <Route path="/agents" element={<Private><AgentsPage /></Private>} />
      <Route path="/agents/new" element={<Private><AgentBuilderPage /></Private>} />
      <Route path="/agents/:agentId" element={<Private><AgentBuilderPage /></Private>} />
      <Route path="/chat" element={<Private><ChatPage /></Private>} />
      <Route path="/chat/:agentId" element={<Private><ChatPage /></Private>} />
      <Route path="/settings" element={<Navigate to="/settings/keys" replace />} />
      <Route path="/settings/:section" element={<Private><SettingsPage /></Private>} />
      <Route path="*" element={<Navigate to="/workflows" replace />} />
    </Route>,
  ),
);

export function App() {
  return (
    <AuthProvider>
      <RouterProvider router={router} />
    </AuthProvider>
  );
}
