'use strict';
// What the bundle gives `import … from 'undici'` in the request path: the dispatchers and their
// request/stream API, without the fetch, WebSocket, cache and mock modules undici's index loads
// (about 55 ms and 14 MiB of a start, measured unbundled). The same files as undici's index.js uses,
// assembled the same way (its Object.assign of lib/api onto Dispatcher.prototype). An import of
// anything else fails the build: add it here, or list the importer in scripts/build.ts.
const Dispatcher = require('../node_modules/undici/lib/dispatcher/dispatcher.js');
const api = require('../node_modules/undici/lib/api/index.js');

Object.assign(Dispatcher.prototype, api);

module.exports.Dispatcher = Dispatcher;
module.exports.Client = require('../node_modules/undici/lib/dispatcher/client.js');
module.exports.Pool = require('../node_modules/undici/lib/dispatcher/pool.js');
module.exports.Agent = require('../node_modules/undici/lib/dispatcher/agent.js');
module.exports.buildConnector = require('../node_modules/undici/lib/core/connect.js');
module.exports.errors = require('../node_modules/undici/lib/core/errors.js');
