// What every canvas node needs besides its own data; the value is stable while the editor is open.
import { createContext, useContext } from "react";
import type { NodeType } from "./graph";

export interface EditorEnv {
  types: Map<string, NodeType>;
  readOnly: boolean;
}

export const EditorContext = createContext<EditorEnv>({ types: new Map(), readOnly: true });

export function useEditorEnv(): EditorEnv {
  return useContext(EditorContext);
}
