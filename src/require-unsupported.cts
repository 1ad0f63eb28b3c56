/**
 * What `require('loopback-singleton')` loads on a Node that cannot `require()` an ES module
 * (the exports map sends `require` here only when Node lacks the `module-sync` condition, i.e.
 * `process.features.require_module` is false). The package is ESM only, with no CommonJS
 * copy: a second copy would be a second module instance, with its own error classes.
 */
const error = new Error(
  `loopback-singleton is an ES module, and this Node (${process.version}) cannot require() one. ` +
    "require(esm) needs Node.js 20.19+, 22.12+ or 24+; on this Node use `await import('loopback-singleton')`.",
) as Error & { code: string };
error.code = 'ERR_REQUIRE_ESM';
throw error;
