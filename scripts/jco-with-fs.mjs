// Preloaded into the `jco` CLI at build time only: preview2-shim 0.26 denies the filesystem by
// default, and jco's own componentize/embed read WIT files through it. Never loaded at run time.
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';
_setPreopens({ '/': '/' });
