// Running a workflow from the editor: run dialog, live statuses, inspector, run history.
import type { JSX } from "react";
import type { RunView } from "./types";

export interface RunPanelProps {
  workflowId: string;
  workflow: unknown;
  initialRunId?: string;
  selectedNodeId: string | null;
  canEdit: boolean;
  saveIfDirty: () => Promise<boolean>;
  onRunView: (view: RunView) => void;
}

export function RunPanel(props: RunPanelProps): JSX.Element {
  void props;
  return (
    <div className="run-panel">
      <span data-testid="run-status">idle</span>
    </div>
  );
}
