// pvsim's XenStore daemon. See docs/xenstore.md.
//
//   startXenstored({ socketPath })   the daemon on a Unix socket (xenstore-utils, dom0 tools)
//   attachRing(daemon, domid, ...)   serve a guest's store page (after XS_INTRODUCE)
//   new XsClient(daemon)             in-process API for pvsim's own tools
//   openXsHandle(daemon)             the same, synchronous, failures as results (dom0's backends, toolstack)

export { Xenstored, directoryPart, type XenstoredOptions, type DomainRecord } from './xenstored.ts';
export { Store, Transaction, XsError, DEFAULT_QUOTAS, entrySize, type Quotas, type XsNode, type WatchFire } from './store.ts';
export { Connection, type ConnectionTransport, type Watch } from './connection.ts';
export { RingTransport, attachRing, type RingOptions } from './ring.ts';
export { openXsHandle, XS_OK, xsFail, type XsHandle, type XsOps, type XsResult, type XsHandleOptions } from './handle.ts';
export { XsClient, type WatchCallback, type XsClientOptions } from './client.ts';
export { startXenstored, serveSocket, type XenstoredServer, type StartXenstoredOptions } from './socket.ts';
export { accessFor, parsePerms, formatPerms, type XsPerm, type Caller, type PermMode } from './perms.ts';
export { domainPath, isValidNodePath, INTRODUCE_DOMAIN, RELEASE_DOMAIN } from './path.ts';
