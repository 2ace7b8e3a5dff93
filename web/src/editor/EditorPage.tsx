// The workflow editor: canvas (React Flow), palette, properties panel, versions, validation,
// undo/redo, copy/paste, auto-layout, keyboard shortcuts, and the run panel (editor/run/**).
import "@xyflow/react/dist/style.css";
import "./editor.css";

import {
  Background,
  BackgroundVariant,
  Controls,
  MiniMap,
  Panel,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  useStore,
  type Connection,
  type EdgeChange,
  type FinalConnectionState,
  type IsValidConnection,
  type NodeChange,
  type OnSelectionChangeParams,
  applyEdgeChanges,
  applyNodeChanges,
  getViewportForBounds,
} from "@xyflow/react";
import { memo, useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { useParams } from "react-router-dom";
import { ApiError, api, errorMessage, ok } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { Button, ErrorState, LoadingState } from "../components/ui";
import { CanvasMiniMap } from "./CanvasMiniMap";
import { zoomedOutSelector } from "./lod";
import { EditorContext } from "./context";
import {
  attachNodeIds,
  checkConnection,
  defaultProperties,
  edgeId,
  freshId,
  issuesFromDetails,
  problemsAsIssues,
  NEW_INPUT_HANDLE,
  needsLayout,
  NODE_WIDTH,
  toFlow,
  withEstimates,
  toSpecEdges,
  toSpecNodes,
  validateLocally,
  type Issue,
  type NodeSpec,
  type NodeType,
  type WfEdge,
  type WfNode,
  type Workflow,
} from "./graph";
import { autoLayout } from "./layout";
import { DND_MIME, Palette } from "./Palette";
import { PropertiesPanel, type WorkflowMeta } from "./PropertiesPanel";
import { RunPanel as RunPanelView } from "./run/RunPanel";
import type { NodeRunState, RunView } from "./run/types";
import { ShortcutsHelp } from "./ShortcutsHelp";
import { LeaveGuard } from "./LeaveGuard";
import { issueStore, runStore } from "./stores";
import { nodeTypes } from "./WorkflowNode";
import { VersionsPanel } from "./VersionsPanel";

/** The run panel need not re-render on every drag frame or keystroke of the canvas. */
const RunPanel = memo(RunPanelView);

interface Snapshot {
  nodes: WfNode[];
  edges: WfEdge[];
  meta: WorkflowMeta;
}

const HISTORY_LIMIT = 200;
const DELETE_KEYS = ["Delete", "Backspace"];
const MULTI_KEYS = ["Shift", "Meta", "Control"];
const PRO_OPTIONS = { hideAttribution: true };
const FIT_OPTIONS = { padding: 0.15, maxZoom: 1.25, includeHiddenNodes: true };
/** Above this many nodes the first view shows the start of the graph at a readable zoom, so
 * viewport culling (onlyRenderVisibleElements) keeps the DOM small; "Fit view" still shows all. */
const LARGE_GRAPH = 300;
const FIRST_VIEW_NODES = 150;

function metaOf(w: Workflow): WorkflowMeta {
  return { name: w.name, description: w.description ?? "", inputs: (w.inputs ?? { type: "object" }) as Record<string, unknown> };
}

/** A stored workflow as canvas state; large graphs get estimated node geometry (see graph.ts). */
function snapshotOf(w: Workflow, types: Map<string, NodeType>): Snapshot {
  const { nodes: n, edges } = toFlow(w);
  let nodes = needsLayout(n) ? autoLayout(n, edges) : n;
  if (nodes.length > LARGE_GRAPH) nodes = withEstimates(nodes, edges, types);
  return { nodes, edges, meta: metaOf(w) };
}

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  const tag = el.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
}

function sameRunState(a: NodeRunState | undefined, b: NodeRunState): boolean {
  return (
    !!a &&
    a.status === b.status &&
    a.tokens === b.tokens &&
    a.error === b.error &&
    a.output === b.output &&
    a.input === b.input &&
    a.durationMs === b.durationMs
  );
}

function Editor({
  initial,
  types,
  runId,
}: {
  initial: Workflow;
  types: Map<string, NodeType>;
  runId?: string;
}) {
  const { canEdit } = useAuth();
  const readOnly = !canEdit || !initial.editable;
  const flow = useReactFlow<WfNode, WfEdge>();
  const wrapper = useRef<HTMLDivElement>(null);

  const start = useMemo(() => snapshotOf(initial, types), [initial, types]);

  /** The nodes a large graph first shows: its start (top left), at a readable zoom. */
  const firstView = useMemo(
    () =>
      [...start.nodes]
        .sort((a, b) => a.position.x + a.position.y - (b.position.x + b.position.y))
        .slice(0, FIRST_VIEW_NODES),
    [start],
  );

  /** Fit the view to `subset` (default: every node). React Flow's own fitView waits until every
   * node was measured, which never happens for a culled large graph, so this uses estimates. */
  const fitTo = useCallback(
    (subset: WfNode[] | null, opts: { minZoom?: number; duration?: number; alignStart?: boolean } = {}) => {
      const list = subset ?? nodesRef.current;
      const rect = wrapper.current?.getBoundingClientRect();
      if (!list.length || !rect || rect.width === 0) return;
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const n of list) {
        const w = n.measured?.width ?? n.initialWidth ?? NODE_WIDTH;
        const h = n.measured?.height ?? n.initialHeight ?? 80;
        x0 = Math.min(x0, n.position.x);
        y0 = Math.min(y0, n.position.y);
        x1 = Math.max(x1, n.position.x + w);
        y1 = Math.max(y1, n.position.y + h);
      }
      const minZoom = opts.minZoom ?? (nodesRef.current.length > LARGE_GRAPH ? 0.15 : 0.05);
      let vp = getViewportForBounds({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, rect.width, rect.height, minZoom, FIT_OPTIONS.maxZoom, FIT_OPTIONS.padding);
      if (opts.alignStart && ((x1 - x0) * vp.zoom > rect.width || (y1 - y0) * vp.zoom > rect.height)) {
        // does not fit at the smallest zoom: show its top-left corner rather than its middle
        vp = { zoom: vp.zoom, x: 24 - x0 * vp.zoom, y: 24 - y0 * vp.zoom };
      }
      void flow.setViewport(vp, { duration: opts.duration });
    },
    [flow],
  );

  // large graphs are never all measured, so React Flow's fitView-on-init would wait forever
  const onInit = useCallback(() => {
    if (start.nodes.length > LARGE_GRAPH) fitTo(firstView, { minZoom: 0.25, alignStart: true });
  }, [start, firstView, fitTo]);

  // zoomed far out, small text is unreadable and is most of what painting costs: hide it (CSS;
  // nodes draw less themselves, lod.tsx), and the background dots
  const zoomedOut = useStore(zoomedOutSelector);

  const [nodes, setNodes] = useState<WfNode[]>(start.nodes);
  const [edges, setEdges] = useState<WfEdge[]>(start.edges);
  const [meta, setMeta] = useState<WorkflowMeta>(start.meta);
  const [saved, setSaved] = useState<Workflow>(initial);
  const nodesRef = useRef(nodes);
  const edgesRef = useRef(edges);
  const metaRef = useRef(meta);

  // history: past snapshots, the present one, the redo stack, and what the server has
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const present = useRef<Snapshot>(start);
  const savedSnap = useRef<Snapshot>(start);
  const [dirty, setDirty] = useState(false);
  const [historyTick, setHistoryTick] = useState(0);

  const [issues, setIssues] = useState<Issue[]>(() => problemsAsIssues(initial.problems));
  const [selectedIds, setSelectedIds] = useState<string[]>([]);
  const [connectionError, setConnectionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [showHelp, setShowHelp] = useState(false);
  const [showVersions, setShowVersions] = useState(false);
  const [activeEdges, setActiveEdges] = useState<Set<string>>(() => new Set());
  const clipboard = useRef<{ nodes: WfNode[]; edges: WfEdge[] } | null>(null);

  /** The document changed and the change is not an undo step yet. */
  const pendingEdit = useRef(false);
  const markEdited = useCallback(() => {
    pendingEdit.current = true;
    setDirty(true);
  }, []);

  const updateNodes = useCallback((fn: (n: WfNode[]) => WfNode[]) => {
    const next = fn(nodesRef.current);
    nodesRef.current = next;
    setNodes(next);
  }, []);
  const updateEdges = useCallback((fn: (e: WfEdge[]) => WfEdge[]) => {
    const next = fn(edgesRef.current);
    edgesRef.current = next;
    setEdges(next);
  }, []);
  const updateMeta = useCallback((m: WorkflowMeta) => {
    metaRef.current = m;
    setMeta(m);
    markEdited();
  }, [markEdited]);

  /** Record the current document as one undo step (no-op when nothing changed). */
  const commit = useCallback(() => {
    if (!pendingEdit.current) return;
    pendingEdit.current = false;
    const p = present.current;
    const snap: Snapshot = { nodes: nodesRef.current, edges: edgesRef.current, meta: metaRef.current };
    past.current.push(p);
    if (past.current.length > HISTORY_LIMIT) past.current.shift();
    future.current = [];
    present.current = snap;
    setDirty(snap !== savedSnap.current);
    setHistoryTick((t) => t + 1);
  }, []);
  const commitScheduled = useRef(false);
  const commitSoon = useCallback(() => {
    if (commitScheduled.current) return;
    commitScheduled.current = true;
    queueMicrotask(() => {
      commitScheduled.current = false;
      commit();
    });
  }, [commit]);

  const restore = useCallback((snap: Snapshot) => {
    pendingEdit.current = false;
    nodesRef.current = snap.nodes;
    edgesRef.current = snap.edges;
    metaRef.current = snap.meta;
    setNodes(snap.nodes);
    setEdges(snap.edges);
    setMeta(snap.meta);
    present.current = snap;
    setDirty(snap !== savedSnap.current);
    setHistoryTick((t) => t + 1);
  }, []);

  const undo = useCallback(() => {
    commit(); // an edit still being typed becomes its own step first
    const prev = past.current.pop();
    if (!prev) return;
    future.current.push(present.current);
    restore(prev);
  }, [commit, restore]);

  const redo = useCallback(() => {
    const next = future.current.pop();
    if (!next) return;
    past.current.push(present.current);
    restore(next);
  }, [restore]);

  /** Replace everything with a workflow from the server (load, restore a version). */
  const resetTo = useCallback(
    (w: Workflow) => {
      const snap = snapshotOf(w, types);
      past.current = [];
      future.current = [];
      savedSnap.current = snap;
      restore(snap);
      setSaved(w);
      setIssues([]);
      setDirty(false);
    },
    [restore, types],
  );

  // ---- node / edge changes from React Flow -------------------------------------------------
  const onNodesChange = useCallback(
    (changes: NodeChange<WfNode>[]) => {
      let edits = false;
      let settle = false;
      for (const c of changes) {
        if (c.type === "remove" || c.type === "add" || c.type === "replace") {
          edits = true;
          settle = true;
        } else if (c.type === "position" && c.position) {
          edits = true;
          if (!c.dragging) settle = true;
        }
      }
      if (readOnly && edits) {
        changes = changes.filter((c) => c.type === "select" || c.type === "dimensions");
        edits = settle = false;
      }
      const measured = changes.some((c) => c.type === "dimensions");
      updateNodes((n) => {
        const next = applyNodeChanges(changes, n);
        if (!measured) return next;
        // measured now: drop the estimated handles so React Flow keeps the measured ones
        const ids = new Set(changes.flatMap((c) => (c.type === "dimensions" ? [c.id] : [])));
        return next.map((x) => (x.handles && ids.has(x.id) ? { ...x, handles: undefined } : x));
      });
      if (edits) markEdited();
      if (settle) commitSoon();
    },
    [readOnly, updateNodes, commitSoon],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange<WfEdge>[]) => {
      if (readOnly) changes = changes.filter((c) => c.type === "select");
      const edits = changes.some((c) => c.type !== "select");
      updateEdges((e) => applyEdgeChanges(changes, e));
      if (edits) {
        markEdited();
        commitSoon();
      }
    },
    [readOnly, updateEdges, commitSoon],
  );

  const onSelectionChange = useCallback(({ nodes: sel }: OnSelectionChangeParams<WfNode, WfEdge>) => {
    setSelectedIds((prev) => {
      const ids = sel.map((n) => n.id);
      return prev.length === ids.length && prev.every((id, i) => id === ids[i]) ? prev : ids;
    });
  }, []);

  // ---- connections with type checking -------------------------------------------------------
  const lookup = useMemo(
    () =>
      ({
        get: (id: string) => flow.getNode(id),
      }) as unknown as Map<string, WfNode>,
    [flow],
  );

  const isValidConnection: IsValidConnection<WfEdge> = useCallback(
    (c) =>
      !readOnly &&
      checkConnection(lookup, types, edgesRef.current, {
        source: c.source,
        sourceHandle: c.sourceHandle,
        target: c.target,
        targetHandle: c.targetHandle,
      }).ok,
    [lookup, types, readOnly],
  );

  /** Add the edge `c` describes; the reason when it is refused. */
  const connect = useCallback(
    (c: Connection): string | null => {
      if (readOnly) return "You can view this workflow but not change it.";
      const check = checkConnection(lookup, types, edgesRef.current, c);
      if (!check.ok) return check.reason ?? "Connection refused.";
      let targetHandle = c.targetHandle ?? "input";
      if (targetHandle === NEW_INPUT_HANDLE) {
        const used = new Set(edgesRef.current.filter((e) => e.target === c.target).map((e) => e.targetHandle ?? ""));
        let k = used.size + 1;
        while (used.has(`in${k}`)) k++;
        targetHandle = `in${k}`;
      }
      const sourceHandle = c.sourceHandle ?? "output";
      const taken = new Set(edgesRef.current.map((e) => e.id));
      let id = edgeId(c.source, sourceHandle, c.target, targetHandle);
      for (let i = 2; taken.has(id); i++) id = `${edgeId(c.source, sourceHandle, c.target, targetHandle)}-${i}`;
      updateEdges((e) => [...e, { id, source: c.source, sourceHandle, target: c.target, targetHandle }]);
      markEdited();
      commitSoon();
      return null;
    },
    [readOnly, lookup, types, updateEdges, commitSoon, markEdited],
  );

  const onConnect = useCallback((c: Connection) => setConnectionError(connect(c)), [connect]);

  const removeEdge = useCallback(
    (id: string) => {
      if (readOnly) return;
      updateEdges((e) => e.filter((x) => x.id !== id));
      markEdited();
      commitSoon();
    },
    [readOnly, updateEdges, markEdited, commitSoon],
  );
  const getNodes = useCallback(() => nodesRef.current, []);

  const onConnectEnd = useCallback(
    (_event: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      if (state.isValid !== false || !state.toHandle || !state.fromHandle) return;
      const from = state.fromHandle;
      const to = state.toHandle;
      if (from.type === to.type) {
        setConnectionError(from.type === "source" ? "Connect an output port to an input port." : "Connect an input port to an output port.");
        return;
      }
      const c = from.type === "source"
        ? { source: from.nodeId, sourceHandle: from.id ?? null, target: to.nodeId, targetHandle: to.id ?? null }
        : { source: to.nodeId, sourceHandle: to.id ?? null, target: from.nodeId, targetHandle: from.id ?? null };
      const check = readOnly ? { ok: false, reason: "You can view this workflow but not change it." } : checkConnection(lookup, types, edgesRef.current, c);
      if (!check.ok) setConnectionError(check.reason ?? "Connection refused.");
    },
    [lookup, types, readOnly],
  );

  useEffect(() => {
    if (!connectionError) return;
    const t = window.setTimeout(() => setConnectionError(null), 8000);
    return () => window.clearTimeout(t);
  }, [connectionError]);

  // ---- adding nodes: drag from the palette, click / Enter, paste ------------------------------
  const addNode = useCallback(
    (type: string, position: { x: number; y: number }) => {
      const nodeType = types.get(type);
      if (!nodeType || readOnly) return;
      const taken = new Set(nodesRef.current.map((n) => n.id));
      const id = freshId(type, taken);
      const node: WfNode = {
        id,
        type: "wf",
        position,
        selected: true,
        data: { spec: { id, type, name: "", properties: defaultProperties(nodeType) } },
      };
      updateNodes((n) => [...n.map((x) => (x.selected ? { ...x, selected: false } : x)), node]);
      markEdited();
      commitSoon();
    },
    [types, readOnly, updateNodes, commitSoon],
  );

  const centre = useCallback(() => {
    const rect = wrapper.current?.getBoundingClientRect();
    if (!rect) return { x: 0, y: 0 };
    const p = flow.screenToFlowPosition({ x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 });
    // the first free spot at or below the centre, so added nodes do not pile up
    const pos = { x: p.x - NODE_WIDTH / 2, y: p.y - 40 };
    const overlaps = (n: WfNode) =>
      Math.abs(n.position.x - pos.x) < NODE_WIDTH + 10 &&
      n.position.y < pos.y + 80 &&
      n.position.y + (n.measured?.height ?? n.initialHeight ?? 80) + 10 > pos.y;
    for (let k = 0; k < 30 && nodesRef.current.some(overlaps); k++) pos.y += 40;
    return pos;
  }, [flow]);

  const addAtCentre = useCallback((type: string) => addNode(type, centre()), [addNode, centre]);

  const onDragOver = useCallback((e: DragEvent) => {
    if (e.dataTransfer.types.includes(DND_MIME) || e.dataTransfer.types.includes("text/plain")) {
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
    }
  }, []);

  const onDrop = useCallback(
    (e: DragEvent) => {
      const type = e.dataTransfer.getData(DND_MIME) || e.dataTransfer.getData("text/plain");
      if (!type || !types.has(type)) return;
      e.preventDefault();
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      addNode(type, { x: p.x - 20, y: p.y - 20 });
    },
    [flow, types, addNode],
  );

  const copy = useCallback(() => {
    const sel = nodesRef.current.filter((n) => n.selected);
    if (sel.length === 0) return null;
    const ids = new Set(sel.map((n) => n.id));
    clipboard.current = {
      nodes: sel,
      edges: edgesRef.current.filter((e) => ids.has(e.source) && ids.has(e.target)),
    };
    setNotice(`Copied ${sel.length} node${sel.length === 1 ? "" : "s"}.`);
    return clipboard.current;
  }, []);

  const paste = useCallback((from?: { nodes: WfNode[]; edges: WfEdge[] }) => {
    const clip = from ?? clipboard.current;
    if (!clip || readOnly) return;
    const taken = new Set(nodesRef.current.map((n) => n.id));
    const rename = new Map<string, string>();
    const added: WfNode[] = clip.nodes.map((n) => {
      const id = freshId(n.id.replace(/_\d+$/, ""), taken);
      taken.add(id);
      rename.set(n.id, id);
      return {
        id,
        type: "wf",
        position: { x: n.position.x + 40, y: n.position.y + 40 },
        selected: true,
        data: { spec: { ...n.data.spec, id } },
      };
    });
    const edgeIds = new Set(edgesRef.current.map((e) => e.id));
    const addedEdges: WfEdge[] = clip.edges.filter((e) => rename.has(e.source) && rename.has(e.target)).map((e) => {
      const source = rename.get(e.source)!;
      const target = rename.get(e.target)!;
      let id = edgeId(source, e.sourceHandle ?? "output", target, e.targetHandle ?? "input");
      while (edgeIds.has(id)) id = `${id}-copy`;
      edgeIds.add(id);
      return { id, source, target, sourceHandle: e.sourceHandle, targetHandle: e.targetHandle };
    });
    updateNodes((n) => [...n.map((x) => (x.selected ? { ...x, selected: false } : x)), ...added]);
    updateEdges((e) => [...e, ...addedEdges]);
    // the next paste lands further along
    clipboard.current = { nodes: added.map((n) => ({ ...n, selected: false })), edges: addedEdges };
    markEdited();
    commitSoon();
  }, [readOnly, updateNodes, updateEdges, commitSoon]);

  const selectAll = useCallback(() => {
    updateNodes((n) => n.map((x) => (x.selected ? x : { ...x, selected: true })));
  }, [updateNodes]);

  const layout = useCallback(() => {
    if (readOnly) return;
    updateNodes((n) => autoLayout(n, edgesRef.current));
    markEdited();
    commitSoon();
    window.requestAnimationFrame(() => fitTo(null));
  }, [readOnly, updateNodes, commitSoon, fitTo]);

  /** Pressing on the canvas ends a property edit (React Flow's pane keeps focus where it was). */
  const blurEditing = useCallback(() => {
    const el = document.activeElement as HTMLElement | null;
    if (el && isTyping(el) && el.closest(".editor-side")) el.blur();
  }, []);

  const fit = useCallback(() => fitTo(null, { duration: 200 }), [fitTo]);

  // ---- properties ---------------------------------------------------------------------------
  const onNodeChange = useCallback(
    (id: string, update: (spec: NodeSpec) => NodeSpec) => {
      if (readOnly) return;
      // estimated handles (graph.ts) may no longer fit the edited ports: React Flow re-measures them
      updateNodes((n) => n.map((x) => (x.id === id ? { ...x, handles: undefined, data: { ...x.data, spec: update(x.data.spec) } } : x)));
      markEdited();
    },
    [readOnly, updateNodes],
  );

  // ---- validation and saving ----------------------------------------------------------------
  const specBody = useCallback(() => {
    const m = metaRef.current;
    return {
      name: m.name,
      description: m.description,
      inputs: m.inputs,
      nodes: toSpecNodes(nodesRef.current),
      edges: toSpecEdges(edgesRef.current),
      limits: saved.limits,
    };
  }, [saved.limits]);

  const save = useCallback(async (): Promise<boolean> => {
    if (readOnly) return false;
    commit();
    const snap = present.current;
    const body = specBody();
    setSaving(true);
    setSaveError(null);
    try {
      const wf = await ok(
        api.PUT("/api/v1/workflows/{workflow_id}", {
          params: { path: { workflow_id: initial.id } },
          body: body as never,
        }),
      );
      savedSnap.current = snap;
      setSaved(wf);
      localIssues.current = false;
      // An unfinished graph is saved too; its problems keep it from running until fixed.
      const problems = attachNodeIds(problemsAsIssues(wf.problems), body.nodes);
      setIssues(problems);
      setDirty(present.current !== snap || pendingEdit.current);
      setNotice(
        problems.length === 0
          ? "Saved."
          : `Saved with ${problems.length} problem${problems.length === 1 ? "" : "s"}: it cannot run until ${problems.length === 1 ? "it is" : "they are"} fixed.`,
      );
      return true;
    } catch (e) {
      if (e instanceof ApiError) {
        const found = attachNodeIds(issuesFromDetails(e.details), body.nodes);
        localIssues.current = false;
        setIssues(found);
        setSaveError(
          found.length
            ? `Not saved: ${found.length} problem${found.length === 1 ? "" : "s"} — ${e.message}`
            : `Not saved: ${e.message}`,
        );
      } else setSaveError(`Not saved: ${errorMessage(e)}`);
      return false;
    } finally {
      setSaving(false);
    }
  }, [readOnly, commit, specBody, initial.id]);

  const savingRef = useRef(false);
  savingRef.current = saving;
  const dirtyRef = useRef(dirty);
  dirtyRef.current = dirty;
  const saveIfDirty = useCallback(async () => (dirtyRef.current && !readOnly ? save() : true), [save, readOnly]);

  /** Issues from "Validate" are re-checked after every edit; the server's stay until the next save. */
  const localIssues = useRef(false);
  const validate = useCallback(async () => {
    // Instant feedback from the browser's copy of the rules, then the server's exact check.
    const found = validateLocally(nodesRef.current, edgesRef.current, types);
    localIssues.current = true;
    setIssues(found);
    setSaveError(null);
    const body = specBody();
    try {
      const report = await ok(api.POST("/api/v1/workflows/validate", { body: body as never }));
      const server = attachNodeIds(problemsAsIssues(report.errors), body.nodes);
      const all = server.length > 0 ? server : found;
      localIssues.current = server.length === 0;
      setIssues(all);
      setNotice(
        all.length === 0
          ? "No problems found."
          : `${all.length} problem${all.length === 1 ? "" : "s"} found.`,
      );
    } catch (e) {
      const shaped = e instanceof ApiError ? attachNodeIds(issuesFromDetails(e.details), body.nodes) : [];
      if (shaped.length > 0) {
        localIssues.current = false;
        setIssues(shaped);
        setNotice(`${shaped.length} problem${shaped.length === 1 ? "" : "s"} found.`);
        return;
      }
      setNotice(
        `${found.length} problem${found.length === 1 ? "" : "s"} found here; the server check failed: ${errorMessage(e)}`,
      );
    }
  }, [types, specBody]);

  useEffect(() => {
    if (localIssues.current) setIssues(validateLocally(nodesRef.current, edgesRef.current, types));
  }, [historyTick, types]);

  useEffect(() => {
    const byNode = new Map<string, string[]>();
    for (const i of issues) {
      if (!i.node) continue;
      const list = byNode.get(i.node);
      const text = i.field && !i.field.startsWith("properties.") ? `${i.field}: ${i.message}` : i.message;
      if (list) list.push(text);
      else byNode.set(i.node, [text]);
    }
    issueStore.replace(byNode);
  }, [issues]);

  useEffect(() => {
    if (!notice) return;
    const t = window.setTimeout(() => setNotice(null), 4000);
    return () => window.clearTimeout(t);
  }, [notice]);

  // ---- run view from the run panel ----------------------------------------------------------
  const [runStatus, setRunStatus] = useState<string | null>(null);
  const onRunView = useCallback((view: RunView) => {
    const next = new Map<string, NodeRunState>();
    for (const [id, state] of Object.entries(view.nodes)) {
      const prev = runStore.get(id);
      next.set(id, prev && sameRunState(prev, state) ? prev : state);
    }
    runStore.replace(next);
    setActiveEdges((prev) => {
      const a = view.activeEdges;
      if (prev.size === a.size && [...a].every((id) => prev.has(id))) return prev;
      return new Set(a);
    });
    setRunStatus(view.status);
  }, []);

  useEffect(
    () => () => {
      runStore.replace(new Map());
      issueStore.replace(new Map());
    },
    [],
  );

  const shownEdges = useMemo(() => {
    if (activeEdges.size === 0) return edges;
    return edges.map((e) => (activeEdges.has(e.id) ? { ...e, animated: true, className: "edge-active" } : e));
  }, [edges, activeEdges]);

  // ---- keyboard shortcuts -------------------------------------------------------------------
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (mod && key === "s") {
        e.preventDefault();
        if (!readOnly && dirtyRef.current && !savingRef.current) void save();
        return;
      }
      if (isTyping(e.target)) return;
      if (document.querySelector(".overlay, dialog[open]") && e.key !== "Escape") return;
      if (mod && key === "z") {
        e.preventDefault();
        if (readOnly) return;
        if (e.shiftKey) redo();
        else undo();
      } else if (mod && key === "y") {
        e.preventDefault();
        if (!readOnly) redo();
      } else if (mod && key === "c") {
        copy(); // the "copy" event below also puts the nodes on the system clipboard
      } else if (mod && key === "v") {
        // the "paste" event below handles it when the browser sends one; otherwise paste here
        pasteHandled.current = false;
        window.setTimeout(() => {
          if (!pasteHandled.current) paste();
        }, 0);
      } else if (mod && key === "a") {
        e.preventDefault();
        selectAll();
      } else if (e.key === "?") {
        e.preventDefault();
        setShowHelp(true);
      } else if (e.key === "Escape") {
        setShowHelp(false);
      } else if (!mod && !e.altKey && key === "l") {
        layout();
      } else if (!mod && !e.altKey && key === "f") {
        fit();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [readOnly, save, undo, redo, copy, paste, selectAll, layout, fit]);

  // ---- system clipboard: copied nodes travel as JSON text (paste into another workflow) -----
  const pasteHandled = useRef(true);
  useEffect(() => {
    const onCopy = (e: ClipboardEvent) => {
      if (isTyping(e.target) || window.getSelection()?.toString()) return;
      const clip = copy();
      if (!clip || !e.clipboardData) return;
      const text = JSON.stringify({ nexus_nodes: toSpecNodes(clip.nodes), nexus_edges: toSpecEdges(clip.edges) }, null, 2);
      e.clipboardData.setData("text/plain", text);
      e.preventDefault();
    };
    const onPaste = (e: ClipboardEvent) => {
      if (isTyping(e.target)) return;
      pasteHandled.current = true;
      e.preventDefault();
      const text = e.clipboardData?.getData("text/plain") ?? "";
      try {
        const data = JSON.parse(text) as { nexus_nodes?: unknown[]; nexus_edges?: unknown[] };
        if (Array.isArray(data.nexus_nodes)) {
          const { nodes: n, edges: ed } = toFlow({ nodes: data.nexus_nodes, edges: data.nexus_edges ?? [] });
          paste({ nodes: n, edges: ed });
          return;
        }
      } catch {
        /* not ours: paste what was copied here */
      }
      paste();
    };
    document.addEventListener("copy", onCopy);
    document.addEventListener("paste", onPaste);
    return () => {
      document.removeEventListener("copy", onCopy);
      document.removeEventListener("paste", onPaste);
    };
  }, [copy, paste]);

  // ---- unsaved-changes guard: reload or close here; leaving in the app, LeaveGuard -----------
  useEffect(() => {
    if (!dirty) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = "";
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [dirty]);

  // ---- derived view state -------------------------------------------------------------------
  const envValue = useMemo(() => ({ types, readOnly }), [types, readOnly]);
  const paletteTypes = useMemo(() => [...types.values()].sort((a, b) => a.type.localeCompare(b.type)), [types]);
  const selectedId = selectedIds.length === 1 ? selectedIds[0] : null;
  const selectedNode = selectedId ? nodes.find((n) => n.id === selectedId) : undefined;
  const selectedSpec = selectedNode?.data.spec;
  const panelNode = useMemo(
    () => (selectedId && selectedSpec ? { id: selectedId, spec: selectedSpec } : null),
    [selectedId, selectedSpec],
  );
  void historyTick;
  const canUndo = past.current.length > 0 || (dirty && pendingEdit.current);
  const canRedo = future.current.length > 0;
  const problemCount = issues.length;

  return (
    <EditorContext.Provider value={envValue}>
      <div className="editor">
        <header className="editor-toolbar glass">
          <h1 className="editor-title" title={meta.name}>
            {meta.name}
            {dirty ? <span className="dirty-dot" title="Unsaved changes" aria-label="Unsaved changes"> ●</span> : null}
          </h1>
          <div className="toolbar-buttons" role="toolbar" aria-label="Editor">
            {!readOnly ? (
              <>
                {/* not disabled while saving: "disabled" means "saved" (tests and users rely on it) */}
                <Button
                  variant="primary"
                  onClick={() => {
                    if (!savingRef.current) void save();
                  }}
                  disabled={!dirty}
                  aria-busy={saving || undefined}
                  title="Save (Ctrl+S)"
                >
                  {saving ? <span className="spinner" aria-hidden="true" /> : null}
                  Save
                </Button>
                <Button onClick={undo} disabled={!canUndo} title="Undo (Ctrl+Z)">
                  Undo
                </Button>
                <Button onClick={redo} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)">
                  Redo
                </Button>
                <Button onClick={layout} title="Auto-layout (L)">
                  Auto-layout
                </Button>
              </>
            ) : (
              <span className="badge" title="You can view and run this workflow">read-only</span>
            )}
            <Button onClick={fit} title="Fit view (F)">
              Fit view
            </Button>
            <Button onClick={validate} title="Check the graph for problems">
              Validate
            </Button>
            <Button onClick={() => setShowVersions((v) => !v)} aria-pressed={showVersions}>
              Versions
            </Button>
            <Button variant="ghost" onClick={() => setShowHelp(true)} aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">
              ?
            </Button>
          </div>
          <div className="toolbar-messages" aria-live="polite">
            {notice ? <span className="notice" role="status">{notice}</span> : null}
            {problemCount && !saveError ? <span className="field-error">{problemCount} problem{problemCount === 1 ? "" : "s"}</span> : null}
          </div>
        </header>
        {saveError ? (
          <div className="editor-banner" role="alert" data-testid="save-error">
            {saveError}
            <Button variant="ghost" onClick={() => setSaveError(null)} aria-label="Dismiss">
              ✕
            </Button>
          </div>
        ) : null}
        <div className="editor-body">
          {!readOnly ? <Palette types={paletteTypes} onAdd={addAtCentre} /> : null}
          <div className={`canvas${runStatus ? " canvas-running" : ""}${zoomedOut ? " zoomed-out" : ""}`} ref={wrapper} onDragOver={onDragOver} onDrop={onDrop} onMouseDownCapture={blurEditing}>
            <ReactFlow<WfNode, WfEdge>
              nodes={nodes}
              edges={shownEdges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd}
              isValidConnection={isValidConnection}
              onSelectionChange={onSelectionChange}
              onlyRenderVisibleElements
              fitView={start.nodes.length > 0 && start.nodes.length <= LARGE_GRAPH}
              fitViewOptions={FIT_OPTIONS}
              onInit={onInit}
              minZoom={nodes.length > LARGE_GRAPH ? 0.15 : 0.05}
              maxZoom={2.5}
              deleteKeyCode={readOnly ? null : DELETE_KEYS}
              multiSelectionKeyCode={MULTI_KEYS}
              nodesDraggable={!readOnly}
              nodesConnectable={!readOnly}
              colorMode="dark"
              proOptions={PRO_OPTIONS}
              aria-label="Workflow canvas"
            >
              {/* zoomed out, the dots are specks that cost a third of each zoom frame's raster */}
              {zoomedOut ? null : <Background variant={BackgroundVariant.Dots} gap={24} size={1} color="rgba(0,255,255,0.18)" />}
              {nodes.length > LARGE_GRAPH ? (
                <Panel position="bottom-right">
                  <CanvasMiniMap nodes={nodes} />
                </Panel>
              ) : (
                <MiniMap pannable zoomable ariaLabel="Mini map" nodeColor="rgba(0,255,255,0.45)" maskColor="rgba(10,10,26,0.7)" />
              )}
              <Controls showFitView={false} showInteractive={false} />
            </ReactFlow>
            {connectionError ? (
              <div className="connection-error" role="alert" data-testid="connection-error">
                Connection refused: {connectionError}
              </div>
            ) : null}
            {nodes.length === 0 ? (
              <div className="canvas-empty">
                {readOnly ? "This workflow has no nodes." : "Drag a node from the palette (or press Enter on one) to start."}
              </div>
            ) : null}
          </div>
          <aside className="editor-side" aria-label="Inspector">
            <RunPanel
              workflowId={initial.id}
              workflow={saved}
              initialRunId={runId}
              selectedNodeId={selectedId}
              saveIfDirty={saveIfDirty}
              onRunView={onRunView}
            />
            {showVersions ? (
              <VersionsPanel
                workflowId={initial.id}
                publishedVersion={saved.published_version ?? null}
                canEdit={!readOnly}
                dirty={dirty}
                saveIfDirty={saveIfDirty}
                onRestored={(w) => {
                  resetTo(w);
                  setNotice("Version restored as the draft.");
                }}
                onPublished={(v) => {
                  setSaved((w) => ({ ...w, published_version: v.version }));
                  setNotice(`Published v${v.version}.`);
                }}
                onClose={() => setShowVersions(false)}
              />
            ) : null}
            <PropertiesPanel
              node={panelNode}
              nodeType={selectedSpec ? types.get(selectedSpec.type) : undefined}
              selectedCount={selectedIds.length}
              readOnly={readOnly}
              issues={issues}
              meta={meta}
              onNodeChange={onNodeChange}
              onMetaChange={updateMeta}
              edges={edges}
              types={types}
              getNodes={getNodes}
              onConnect={connect}
              onRemoveEdge={removeEdge}
              onCommit={commit}
            />
          </aside>
        </div>
        {showHelp ? <ShortcutsHelp onClose={() => setShowHelp(false)} /> : null}
        <LeaveGuard workflowId={initial.id} dirty={dirty && !readOnly} />
      </div>
    </EditorContext.Provider>
  );
}

export default function EditorPage() {
  const { workflowId = "", runId } = useParams();
  const [state, setState] = useState<
    { kind: "loading" } | { kind: "error"; message: string } | { kind: "ready"; workflow: Workflow; types: Map<string, NodeType> }
  >({ kind: "loading" });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let live = true;
    setState({ kind: "loading" });
    Promise.all([
      ok(api.GET("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: workflowId } } })),
      ok(api.GET("/api/v1/node-types")),
    ]).then(
      ([workflow, list]) => {
        if (!live) return;
        const types = new Map((list as unknown as NodeType[]).map((t) => [t.type, t]));
        setState({ kind: "ready", workflow, types });
      },
      (e: unknown) => live && setState({ kind: "error", message: errorMessage(e) }),
    );
    return () => {
      live = false;
    };
  }, [workflowId, attempt]);

  if (state.kind === "loading") return <LoadingState label="Loading workflow" />;
  if (state.kind === "error") return <ErrorState error={state.message} onRetry={() => setAttempt((a) => a + 1)} />;
  return (
    <ReactFlowProvider>
      <Editor key={state.workflow.id} initial={state.workflow} types={state.types} runId={runId} />
    </ReactFlowProvider>
  );
}
