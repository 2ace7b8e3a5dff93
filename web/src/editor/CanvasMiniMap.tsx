// A minimap for large graphs drawn on a <canvas>: React Flow's SVG minimap repaints one <rect> per
// node on every pan frame (its viewport mask moves), which at thousands of nodes costs more than
// the canvas itself. Here the nodes are drawn once per change and only a small div moves.
import { useReactFlow, useStore } from "@xyflow/react";
import { memo, useEffect, useMemo, useRef, type PointerEvent } from "react";
import { NODE_WIDTH, type WfEdge, type WfNode } from "./graph";

const W = 200;
const H = 150;
const PAD = 8;

const transformSelector = (s: { transform: [number, number, number] }) => s.transform;
const widthSelector = (s: { width: number }) => s.width;
const heightSelector = (s: { height: number }) => s.height;

function CanvasMiniMapView({ nodes }: { nodes: WfNode[] }) {
  const flow = useReactFlow<WfNode, WfEdge>();
  const canvas = useRef<HTMLCanvasElement>(null);
  const [tx, ty, zoom] = useStore(transformSelector);
  const paneW = useStore(widthSelector);
  const paneH = useStore(heightSelector);

  const frame = useMemo(() => {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of nodes) {
      x0 = Math.min(x0, n.position.x);
      y0 = Math.min(y0, n.position.y);
      x1 = Math.max(x1, n.position.x + (n.measured?.width ?? n.initialWidth ?? NODE_WIDTH));
      y1 = Math.max(y1, n.position.y + (n.measured?.height ?? n.initialHeight ?? 80));
    }
    if (!Number.isFinite(x0)) return { x0: 0, y0: 0, scale: 1 };
    const scale = Math.min((W - 2 * PAD) / Math.max(1, x1 - x0), (H - 2 * PAD) / Math.max(1, y1 - y0));
    return { x0, y0, scale };
  }, [nodes]);

  useEffect(() => {
    const ctx = canvas.current?.getContext("2d");
    if (!ctx) return;
    const id = requestAnimationFrame(() => {
      ctx.clearRect(0, 0, W, H);
      const { x0, y0, scale } = frame;
      for (const n of nodes) {
        ctx.fillStyle = n.selected ? "rgba(255,0,255,0.9)" : "rgba(0,255,255,0.45)";
        const w = (n.measured?.width ?? n.initialWidth ?? NODE_WIDTH) * scale;
        const h = (n.measured?.height ?? n.initialHeight ?? 80) * scale;
        ctx.fillRect(PAD + (n.position.x - x0) * scale, PAD + (n.position.y - y0) * scale, Math.max(1, w), Math.max(1, h));
      }
    });
    return () => cancelAnimationFrame(id);
  }, [nodes, frame]);

  // the visible part of the canvas, in minimap pixels (clipped to the minimap)
  const vx = PAD + (-tx / zoom - frame.x0) * frame.scale;
  const vy = PAD + (-ty / zoom - frame.y0) * frame.scale;
  const vw = (paneW / zoom) * frame.scale;
  const vh = (paneH / zoom) * frame.scale;
  const left = Math.max(0, Math.min(W, vx));
  const top = Math.max(0, Math.min(H, vy));
  const right = Math.max(0, Math.min(W, vx + vw));
  const bottom = Math.max(0, Math.min(H, vy + vh));

  const centreOn = (e: PointerEvent<HTMLDivElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const x = (e.clientX - r.left - PAD) / frame.scale + frame.x0;
    const y = (e.clientY - r.top - PAD) / frame.scale + frame.y0;
    void flow.setCenter(x, y, { zoom });
  };

  return (
    <div
      className="canvas-minimap"
      role="img"
      aria-label={`Mini map of ${nodes.length} nodes; click to move there`}
      onPointerDown={(e) => {
        e.currentTarget.setPointerCapture(e.pointerId);
        centreOn(e);
      }}
      onPointerMove={(e) => {
        if (e.buttons & 1) centreOn(e);
      }}
    >
      <canvas ref={canvas} width={W} height={H} />
      <div
        className="canvas-minimap-view"
        style={{ transform: `translate(${left}px, ${top}px)`, width: right - left, height: bottom - top }}
      />
    </div>
  );
}

export const CanvasMiniMap = memo(CanvasMiniMapView);
