import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API serves the built files at "/"; during development, `npm run dev` proxies the API.
export default defineConfig({
  plugins: [react()],
  resolve: { alias: { "@": "/src" } },
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 1500 },
  server: {
    port: 5173,
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/ws": { target: "ws://127.0.0.1:8000", ws: true },
      "/apps": "http://127.0.0.1:8000",
      "/health": "http://127.0.0.1:8000",
    },
  },
});
