// XenbusState (xen/io/xenbus.h): the handshake of every split device, driven through
// XenStore by its frontend and backend.
//
//   backend:  Initialising -> InitWait ------------------> Connected -> Closing -> Closed
//   frontend: Initialising ----------> Initialised/Connected  ---------> Closing -> Closed
//
// The backend publishes its features and waits (InitWait); the frontend publishes its ring
// and event channel (Initialised); the backend connects (Connected). Either side starts
// teardown with Closing; both end Closed.

export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;
export type XenbusState = (typeof XenbusState)[keyof typeof XenbusState];
