// Level of detail for the canvas. Zoomed out below LOD_ZOOM a port's text is a few pixels tall, so
// a node draws its box, name and coloured port dots only: the dots are plain elements at exactly
// the places of the real handles (React Flow measures them there, so edges attach the same way),
// without React Flow's <Handle> (a store subscription each) or per-handle transforms. That keeps
// the work of each pan/zoom frame, and of nodes mounted as they scroll into view, small. Zoom in
// to connect ports by dragging (the properties panel connects them at any zoom).
import type { Port } from "./graph";

export const LOD_ZOOM = 0.45;

/** Whether the canvas is zoomed out past the level of detail (nodes re-render only on a change). */
export const zoomedOutSelector = (s: { transform: [number, number, number] }) => s.transform[2] < LOD_ZOOM;

// editor.css: a port row is 18 px tall with 2 px between rows under 4 px of padding; a handle is
// 10 px, centred on its row.
const PORTS_PADDING = 4;
const ROW = 20;
const ROW_HEIGHT = 18;
const HANDLE = 10;

/** The ports block of a node at low detail: the same height as the full one, dots in place. */
export function PortDots({ id, ins, outs }: { id: string; ins: Port[]; outs: Port[] }) {
  const rows = Math.max(ins.length, outs.length);
  const top = (i: number) => PORTS_PADDING + i * ROW + (ROW_HEIGHT - HANDLE) / 2;
  return (
    <div className="wf-node-ports wf-node-ports-lod" style={{ height: rows ? PORTS_PADDING + rows * ROW - (ROW - ROW_HEIGHT) : PORTS_PADDING }}>
      {ins.map((p, i) => (
        <div
          key={`in-${p.name}`}
          className={`react-flow__handle wf-handle wf-dot wf-type-${p.type} target`}
          data-handleid={p.name}
          data-nodeid={id}
          data-handlepos="left"
          style={{ top: top(i) }}
        />
      ))}
      {outs.map((p, i) => (
        <div
          key={`out-${p.name}`}
          className={`react-flow__handle wf-handle wf-dot wf-type-${p.type} source`}
          data-handleid={p.name}
          data-nodeid={id}
          data-handlepos="right"
          style={{ top: top(i) }}
        />
      ))}
    </div>
  );
}
