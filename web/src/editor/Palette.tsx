// The palette of node types: drag one onto the canvas, or click / press Enter to add it at the
// centre of the view.
import { memo, useState } from "react";
import type { NodeType } from "./graph";

export const DND_MIME = "application/x-nexus-node-type";

function PaletteView({ types, onAdd }: { types: NodeType[]; onAdd: (type: string) => void }) {
  const [filter, setFilter] = useState("");
  const shown = types.filter(
    (t) => !filter || t.type.includes(filter.toLowerCase()) || t.description.toLowerCase().includes(filter.toLowerCase()),
  );
  return (
    <nav className="palette glass" aria-label="Node palette">
      <h2>Nodes</h2>
      <input
        type="search"
        aria-label="Filter node types"
        placeholder="Filter…"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
      />
      <ul>
        {shown.map((t) => (
          <li key={t.type}>
            <button
              type="button"
              className="palette-item"
              data-testid={`palette-item-${t.type}`}
              draggable
              title={t.description}
              aria-label={`Add ${t.type} node`}
              onDragStart={(e) => {
                e.dataTransfer.setData(DND_MIME, t.type);
                e.dataTransfer.setData("text/plain", t.type);
                e.dataTransfer.effectAllowed = "move";
              }}
              onClick={() => onAdd(t.type)}
            >
              <span className="palette-type">{t.type}</span>
              <span className="palette-desc">{t.description.split(/(?<=\.)\s/)[0]}</span>
            </button>
          </li>
        ))}
        {shown.length === 0 ? <li className="muted">No node type matches.</li> : null}
      </ul>
    </nav>
  );
}

export const Palette = memo(PaletteView);
