// Asks before the router leaves a workflow with unsaved changes: links, the Back and Forward
// buttons, sign-out (useBlocker needs the data router, App.tsx). Reloading or closing the tab is
// the browser's own prompt (beforeunload in EditorPage). Moving within the workflow (its run
// pages) is not leaving it.
import { useCallback } from "react";
import { useBlocker, type BlockerFunction } from "react-router-dom";
import { Button, Dialog } from "../components/ui";

export function LeaveGuard({ workflowId, dirty }: { workflowId: string; dirty: boolean }) {
  const base = `/workflows/${workflowId}`;
  const leaving = useCallback<BlockerFunction>(
    ({ currentLocation, nextLocation }) =>
      dirty &&
      currentLocation.pathname !== nextLocation.pathname &&
      nextLocation.pathname !== base &&
      !nextLocation.pathname.startsWith(`${base}/`),
    [dirty, base],
  );
  const blocker = useBlocker(leaving);
  const stay = () => blocker.reset?.();
  return (
    <Dialog open={blocker.state === "blocked"} title="Leave without saving?" onClose={stay}>
      <p>This workflow has unsaved changes. If you leave now, they are lost.</p>
      <div className="dialog-actions">
        <Button variant="primary" onClick={stay} autoFocus>
          Stay
        </Button>
        <Button variant="danger" onClick={() => blocker.proceed?.()}>
          Leave without saving
        </Button>
      </div>
    </Dialog>
  );
}
