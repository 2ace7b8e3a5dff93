// The keyboard shortcuts overlay ("?").
import { useEffect, useRef } from "react";
import { Button } from "../components/ui";

export const SHORTCUTS: [string, string][] = [
  ["Ctrl/⌘ + S", "Save"],
  ["Ctrl/⌘ + Z", "Undo"],
  ["Ctrl/⌘ + Shift + Z, Ctrl + Y", "Redo"],
  ["Ctrl/⌘ + C / V", "Copy / paste the selected nodes (also into another workflow)"],
  ["Ctrl/⌘ + A", "Select all nodes"],
  ["Delete, Backspace", "Delete the selection"],
  ["Shift + drag", "Select with a box"],
  ["Shift / Ctrl + click", "Add to the selection"],
  ["Enter on a palette item", "Add that node at the centre"],
  ["Tab, then Enter", "Focus a node on the canvas and select it"],
  ["Arrow keys", "Move the selected nodes"],
  ["L", "Auto-layout"],
  ["F", "Fit view"],
  ["?", "Show this help"],
  ["Escape", "Close dialogs and this help"],
];

export function ShortcutsHelp({ onClose }: { onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector("button")?.focus();
  }, []);
  return (
    <div className="overlay" onClick={onClose}>
      <div
        ref={ref}
        className="dialog glass"
        role="dialog"
        aria-modal="true"
        aria-labelledby="shortcuts-title"
        data-testid="shortcuts-help"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key === "Escape") onClose();
        }}
      >
        <h2 id="shortcuts-title">Keyboard shortcuts</h2>
        <table className="shortcuts">
          <tbody>
            {SHORTCUTS.map(([keys, what]) => (
              <tr key={keys}>
                <td>
                  <kbd>{keys}</kbd>
                </td>
                <td>{what}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <Button onClick={onClose}>Close</Button>
      </div>
    </div>
  );
}
