/**
 * The folder ladder (docs/architecture.md "Where things live"), checked in CI by
 * `npm run check:deps`: contract ← kernel ← infrastructure ← features ← app.
 */
const FEATURES =
  "^src/(admin|demo-login|devices|fanout|media|membership|messages|notify|presence|rooms|sync|web)/";
const INFRASTRUCTURE =
  "^src/(auth|config|http|media-storage|observability|queues|rate-limits|realtime|redis|store)/";
// Adapters: the I/O behind a port (the database, Redis, media storage, push providers).
const ADAPTERS = "^src/(store|redis|media-storage)/|^src/media/processing/|^src/notify/providers/";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "no file imports one that imports it back",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-folder-cycles",
      severity: "error",
      comment: "no folder imports one that imports it back (src/ is a ladder of folders)",
      scope: "folder",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "contract-imports-nothing",
      severity: "error",
      comment: "src/contract is shared with clients: it imports zod and itself only",
      from: { path: "^src/contract/" },
      to: { pathNot: ["^src/contract/", "node_modules/zod/"] },
    },
    {
      name: "kernel-imports-contract-only",
      severity: "error",
      from: { path: "^src/kernel/" },
      to: {
        pathNot: ["^src/kernel/", "^src/contract/", "^node_modules/", "^node:"],
        dependencyTypesNot: ["core"],
      },
    },
    {
      name: "infrastructure-imports-no-feature",
      severity: "error",
      from: { path: INFRASTRUCTURE },
      to: { path: [FEATURES, "^src/app/", "^src/api\\.ts$", "^workers/"] },
    },
    {
      name: "adapters-import-no-feature",
      severity: "error",
      comment: "an adapter holds I/O; the rules that use it live above it",
      from: { path: ADAPTERS },
      to: {
        path: [FEATURES, "^src/app/", "^src/api\\.ts$"],
        pathNot: ["^src/media/processing/", "^src/notify/providers/"],
      },
    },
    {
      name: "features-not-into-app",
      severity: "error",
      comment: "features are composed by src/app; they never import it",
      from: { path: [FEATURES, INFRASTRUCTURE] },
      to: { path: ["^src/app/", "^src/api\\.ts$", "^src/main\\.ts$", "^workers/"] },
    },
    {
      name: "web-client-imports-contract-only",
      severity: "error",
      comment: "the web client shares the contract with the server, nothing else",
      from: { path: "^web/src/" },
      to: { path: "^src/", pathNot: "^src/contract/" },
    },
  ],
  options: {
    // TypeScript 7.0's API lacks what dependency-cruiser's tsc parser needs; swc reads the sources.
    parser: "swc",
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
  },
};
