// The canvas edge. Zoomed in it is React Flow's bezier edge (with its wide invisible interaction
// path, so an edge is easy to click and select). Zoomed out below LOD_ZOOM, where a zoom-out step
// mounts dozens of edges that culling brings into view, it is one plain path: no interaction
// path, label or marker, a third of the DOM and of the hit-test and paint work per edge. It can
// still be clicked on its stroke.
import { BezierEdge, getBezierPath, type EdgeProps, type EdgeTypes } from "@xyflow/react";
import { createContext, memo, useContext } from "react";

/** Whether the canvas is zoomed out past the level of detail; provided by the editor. */
export const ZoomedOutContext = createContext(false);

const WorkflowEdge = memo(function WorkflowEdge(props: EdgeProps) {
  const zoomedOut = useContext(ZoomedOutContext);
  if (!zoomedOut) return <BezierEdge {...props} />;
  const [path] = getBezierPath(props);
  return <path className="react-flow__edge-path" d={path} style={props.style} />;
});

export const edgeTypes: EdgeTypes = { default: WorkflowEdge };
