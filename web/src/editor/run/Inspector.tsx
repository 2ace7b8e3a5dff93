// The per-node inspector of the run shown on the canvas: inputs, output, duration, streamed
// tokens, error; approve/reject a waiting approval node; re-run from this node.
import { useEffect, useId, useMemo, useState } from "react";
import { Button } from "../../components/ui";
import type { NodeDetail } from "./events";

const MAX_SHOWN = 100_000;

export function formatValue(value: unknown): string {
  if (value === undefined) return "—";
  let text: string;
  if (typeof value === "string") text = value;
  else {
    try {
      text = JSON.stringify(value, null, 2) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_SHOWN
    ? `${text.slice(0, MAX_SHOWN)}\n… (${text.length - MAX_SHOWN} more characters)`
    : text;
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return "—";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export interface InspectorProps {
  runId: string;
  nodeId: string;
  nodeName: string;
  nodeType: string;
  detail: NodeDetail | undefined;
  inputs: unknown;
  runInput: Record<string, unknown> | null;
  runFinal: boolean;
  busy: string | null;
  actionError: string | null;
  onDecide: (nodeId: string, approved: boolean, comment: string) => void;
  onRerun: (nodeId: string, inputs: Record<string, unknown>, nodeInputs: Record<string, unknown> | null) => void;
  onClose: () => void;
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${what}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${what}: must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function Inspector(props: InspectorProps) {
  const { detail, nodeId } = props;
  const idBase = useId();
  const status = detail?.status ?? "idle";
  const [comment, setComment] = useState("");
  const [rerunOpen, setRerunOpen] = useState(false);
  const [nodeInputsText, setNodeInputsText] = useState("");
  const [runInputsText, setRunInputsText] = useState("");
  const [formError, setFormError] = useState<string | null>(null);

  useEffect(() => {
    setComment("");
    setRerunOpen(false);
    setFormError(null);
  }, [nodeId, props.runId]);

  const openRerun = () => {
    setNodeInputsText(props.inputs === undefined ? "" : JSON.stringify(props.inputs, null, 2));
    setRunInputsText(JSON.stringify(props.runInput ?? {}, null, 2));
    setFormError(null);
    setRerunOpen(true);
  };

  const submitRerun = () => {
    try {
      const inputs = parseObject(runInputsText, "Workflow inputs");
      const nodeInputs =
        nodeInputsText.trim() === "" ? null : parseObject(nodeInputsText, "Node inputs");
      setFormError(null);
      props.onRerun(nodeId, inputs, nodeInputs);
    } catch (error) {
      setFormError((error as Error).message);
    }
  };

  // Formatting a large value is the costly part of a render; tokens re-render this often.
  const inputText = useMemo(() => formatValue(props.inputs), [props.inputs]);
  const outputText = useMemo(() => formatValue(detail?.output), [detail?.output]);
  const request = detail?.waitingRequest;
  const isApproval = status === "waiting" && (request?.kind === "approval" || props.nodeType === "approval");
  const tokens = detail?.tokens;

  return (
    <section
      className="inspector glass"
      data-testid="inspector"
      aria-labelledby={`${idBase}-title`}
    >
      <header className="inspector-head">
        <h3 id={`${idBase}-title`}>
          {props.nodeName || nodeId}
          <span className="inspector-type mono"> {props.nodeType}</span>
        </h3>
        <span className={`run-badge status-${status}`} data-testid="inspector-status">
          {detail?.skipped ? "skipped" : detail?.interrupted ? "interrupted" : status}
          {detail?.attempt && detail.attempt > 1 ? ` · attempt ${detail.attempt}` : ""}
        </span>
        <Button variant="ghost" aria-label="Close inspector" onClick={props.onClose}>
          ×
        </Button>
      </header>
      <dl className="inspector-facts">
        <dt>Duration</dt>
        <dd data-testid="inspector-duration">{formatDuration(detail?.durationMs)}</dd>
        <dt>Tokens</dt>
        <dd data-testid="inspector-tokens-count">
          {tokens ? `${tokens.length} characters streamed` : "—"}
        </dd>
        {detail?.usage
          ? Object.entries(detail.usage).map(([key, value]) => (
              <div key={key} className="inspector-usage">
                <dt>{key.replaceAll("_", " ")}</dt>
                <dd>{value}</dd>
              </div>
            ))
          : null}
      </dl>

      {detail?.error ? (
        <div className="inspector-block">
          <h4>Error</h4>
          <pre className="inspector-pre inspector-error" data-testid="inspector-error" role="alert">
            {detail.error}
          </pre>
        </div>
      ) : null}

      {isApproval ? (
        <div className="inspector-block inspector-approval">
          <h4>Waiting for approval</h4>
          {typeof request?.message === "string" && request.message ? (
            <p>{request.message}</p>
          ) : null}
          <>
              <label htmlFor={`${idBase}-comment`}>Comment</label>
              <textarea
                id={`${idBase}-comment`}
                rows={2}
                value={comment}
                onChange={(e) => setComment(e.target.value)}
              />
              <div className="inspector-actions">
                <Button
                  variant="primary"
                  busy={props.busy === `approve:${nodeId}`}
                  disabled={props.busy !== null}
                  onClick={() => props.onDecide(nodeId, true, comment)}
                >
                  Approve
                </Button>
                <Button
                  variant="danger"
                  busy={props.busy === `reject:${nodeId}`}
                  disabled={props.busy !== null}
                  onClick={() => props.onDecide(nodeId, false, comment)}
                >
                  Reject
                </Button>
              </div>
            </>
        </div>
      ) : null}

      {tokens ? (
        <div className="inspector-block">
          <h4>Streamed tokens</h4>
          <pre className="inspector-pre" data-testid="inspector-tokens" aria-live="polite">
            {tokens}
          </pre>
        </div>
      ) : null}

      <div className="inspector-block">
        <h4>Input</h4>
        <pre className="inspector-pre" data-testid="inspector-input">
          {inputText}
        </pre>
      </div>
      <div className="inspector-block">
        <h4>Output</h4>
        <pre className="inspector-pre" data-testid="inspector-output">
          {outputText}
        </pre>
      </div>

      {props.actionError ? (
        <p className="run-error" role="alert">
          {props.actionError}
        </p>
      ) : null}

      {props.runFinal ? (
        rerunOpen ? (
          <div className="inspector-block inspector-rerun">
            <h4>Re-run from this node</h4>
            <label htmlFor={`${idBase}-node-inputs`}>Node inputs (JSON)</label>
            <textarea
              id={`${idBase}-node-inputs`}
              className="code"
              rows={5}
              value={nodeInputsText}
              placeholder="empty: what the incoming edges deliver"
              onChange={(e) => setNodeInputsText(e.target.value)}
            />
            <label htmlFor={`${idBase}-run-inputs`}>Workflow inputs (JSON)</label>
            <textarea
              id={`${idBase}-run-inputs`}
              className="code"
              rows={4}
              value={runInputsText}
              onChange={(e) => setRunInputsText(e.target.value)}
            />
            {formError ? (
              <p className="run-error" role="alert">
                {formError}
              </p>
            ) : null}
            <div className="inspector-actions">
              <Button onClick={() => setRerunOpen(false)}>Cancel</Button>
              <Button
                variant="primary"
                busy={props.busy === `rerun:${nodeId}`}
                disabled={props.busy !== null}
                onClick={submitRerun}
              >
                Start re-run
              </Button>
            </div>
          </div>
        ) : (
          <div className="inspector-actions">
            <Button onClick={openRerun}>Re-run from this node</Button>
          </div>
        )
      ) : null}
    </section>
  );
}
