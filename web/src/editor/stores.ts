// Per-node values (run state, validation messages) that node components subscribe to by id, so a
// change to one node re-renders that node only — never all 1,000 of them.
import { useCallback, useSyncExternalStore } from "react";
import type { NodeRunState } from "./run/types";

export class KeyedStore<V> {
  private values = new Map<string, V>();
  private listeners = new Map<string, Set<() => void>>();

  get(key: string): V | undefined {
    return this.values.get(key);
  }

  subscribe(key: string, listener: () => void): () => void {
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  }

  private notify(key: string) {
    const set = this.listeners.get(key);
    if (set) for (const l of set) l();
  }

  /** Replace everything; only keys whose value changed (by identity) are notified. */
  replace(next: Map<string, V>) {
    const changed: string[] = [];
    for (const [k, v] of next) if (this.values.get(k) !== v) changed.push(k);
    for (const k of this.values.keys()) if (!next.has(k)) changed.push(k);
    this.values = next;
    for (const k of changed) this.notify(k);
  }

  entries(): IterableIterator<[string, V]> {
    return this.values.entries();
  }
}

export function useKeyed<V>(store: KeyedStore<V>, key: string): V | undefined {
  const subscribe = useCallback((l: () => void) => store.subscribe(key, l), [store, key]);
  const get = useCallback(() => store.get(key), [store, key]);
  return useSyncExternalStore(subscribe, get, get);
}

export const runStore = new KeyedStore<NodeRunState>();
export const issueStore = new KeyedStore<string[]>();
