export * from "./layout.js";
export * from "./manifest-files.js";
export * from "./manifest-reader.js";
export { type FieldPath, type FieldPosition, parseFieldPath } from "./field-position.js";
export * from "./status-store.js";
export * from "./desired-store.js";
export * from "./log-files.js";
export { writeFileAtomic } from "./atomic-file.js";
