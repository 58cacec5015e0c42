// Encoding and decoding of protocol/pvsim.proto frames with protobufjs, and the
// TypeScript types of every message. tests/wire.test.ts checks that these types and the
// .proto agree field by field.

import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';

export const PROTOCOL_VERSION = 1;
/**
 * Largest frame either side accepts. A kernel image (at most 16 MiB, MAX_KERNEL_BYTES in
 * xenguest/kernel_file.ts) travels in one CreateDomain, and again in dom0's
 * DomainBuild with the domain's mfn list (4 MiB for a 4 GiB domain) and page tables.
 */
export const MAX_FRAME_BYTES = 24 * 1024 * 1024;

export interface Empty {}
export interface Hello { version: number; role: 'dom0' | 'client' | string; token: string }
export interface Welcome { version: number; server: string; nowNs: number }
export interface Refused { reason: string }
export interface DomainRef { domid?: number; name?: string }
/** A split device of a domain (its backend directory's kind, domid, devid). */
export interface DeviceRef { domid: number; kind: string; devid: number }
export interface CreateDomain {
  name: string;
  kernel: Uint8Array;
  cmdline?: string;
  memoryMib: number;
  maxmemMib?: number;
  vcpus?: number;
  weight?: number;
  cap?: number;
  paused?: boolean;
  onPoweroff?: string;
  onReboot?: string;
  onCrash?: string;
  devices?: Device[];
  /** xl.cfg type: "pv" (empty = pv) or "hvm". */
  type?: string;
  /** For hvm: "trap" (empty = trap) or "hw"; shadow_sync "wp" (empty = wp) or "lazy". */
  hvmMode?: string;
  shadowSync?: string;
  /** xl.cfg cpus= / cpus_soft=: hard and soft affinity, pCPU numbers (empty = none given). */
  cpus?: number[];
  cpusSoft?: number[];
  /** xl.cfg xen_platform_pci = 0 (hvm only): no /hypervisor node, no PV devices. */
  noXenPlatform?: boolean;
  /** xl.cfg pool=: the cpupool to create it in (empty = Pool-0). */
  pool?: string;
  /** xl.cfg cpu_engine (pvsim's): "interp" or "jit" (empty = the machine's engine). */
  cpuEngine?: string;
}
export interface Device { kind: 'vbd' | 'vif' | string; devid: number; backend: Record<string, string>; frontend: Record<string, string> }
export interface ShutdownDomain { domain: DomainRef; reason: number }
export interface SchedCredit {
  domain: DomainRef;
  set?: boolean;
  weight?: number;
  cap?: number;
  /** "credit" (or empty), "credit2", "rtds": the scheduler the caller means. */
  scheduler?: string;
  /** RTDS: the vCPUs to read or set (empty = all); perVcpu: one row per vCPU. */
  vcpus?: number[];
  perVcpu?: boolean;
  /** RTDS period and budget (us), 0 = leave as is; extratime 0 leave, 1 off, 2 on. */
  period?: number;
  budget?: number;
  extratime?: number;
  /** Pool-wide parameters (-s); ratelimitUs -1 = leave as is. */
  schedparam?: boolean;
  ratelimitUs?: number;
}
/** A cpupool operation (xl cpupool-*): op "list", "create", "cpu-remove" or "migrate". */
export interface CpupoolOp {
  op: string;
  pool?: string;
  scheduler?: string;
  cpus?: number[];
  domain?: DomainRef;
}
export interface CpupoolInfo { id: number; name: string; scheduler: string; cpus: number[]; nDom: number }
export interface CpupoolList { pools: CpupoolInfo[]; freeCpus: number[] }
export interface SchedVcpuInfo { vcpu: number; period: number; budget: number; extratime: boolean; deadlineMisses: number }
export interface DeviceStats {
  domid: number;
  vbds: number;
  vbdReads: number;
  vbdWrites: number;
  vbdFlushes: number;
  vbdErrors: number;
  nets: number;
  netTxPackets: number;
  netTxBytes: number;
  netRxPackets: number;
  netRxBytes: number;
  netRxDropped: number;
  /** 512-byte sectors read and written (xentop's VBD_RSECT/VBD_WSECT); 0 when absent. */
  vbdRdSect?: number;
  vbdWrSect?: number;
  netTxErrors?: number;
  netRxErrors?: number;
  /** Each connected device on its own (xentop -x, -n). */
  vbd?: VbdStats[];
  vif?: VifStats[];
}
/** One vbd as blkback counts it. ooReqs: requests deferred for lack of backend resources (never, in pvsim). */
export interface VbdStats { devid: number; rdReqs: number; wrReqs: number; rdSect: number; wrSect: number; ooReqs: number; flushes: number; errors: number }
/** One vif from the guest's side (tx = sent by the guest). */
export interface VifStats { devid: number; rxBytes: number; rxPackets: number; rxErrs: number; rxDrop: number; txBytes: number; txPackets: number; txErrs: number; txDrop: number }
export interface DeviceStatsList { domains: DeviceStats[] }
export interface EvtchnInfo { port: number; state: string; vcpu: number; remoteDomid: number; remotePort: number; virq: number; pending: boolean; masked: boolean }
export interface GrantInfo { ref: number; flags: number; domid: number; frame: number; pin: number }
export interface DomainTables { domid: number; evtchnAbi: string; evtchns: EvtchnInfo[]; grantFrames: number; grants: GrantInfo[]; maptrackUsed: number; evtchnSends: number; truncated: number }
export interface DomainTablesList { domains: DomainTables[] }
export interface BackendRing { domid: number; device: string; ring: string; size: number; reqProd: number; reqCons: number; rspProd: number; rspProdPvt: number; reqEvent: number; rspEvent: number; port: number }
export interface BackendRingList { rings: BackendRing[] }
export interface HvmExitCount { reason: string; count: number; ns: number }
export interface HvmDomainStats { domid: number; name: string; mode: string; shadowSync: string; exits: HvmExitCount[] }
export interface HvmStatsList { domains: HvmDomainStats[] }
/**
 * Bytes of console output kept per domain (by the hypervisor for its own console, by dom0's
 * console backend for a guest's) for a ConsoleRead after the fact; older bytes are dropped.
 */
export const CONSOLE_LOG_BYTES = 64 * 1024;
export interface ConsoleRead { domain: DomainRef; offset?: number }
export interface DomainInfo {
  domid: number;
  name: string;
  flags: number;
  totPages: number;
  maxPages: number;
  cpuTimeNs: number;
  onlineVcpus: number;
  maxVcpuId: number;
  weight: number;
  cap: number;
}
export interface DomainList { domains: DomainInfo[] }
export interface SchedCreditInfo {
  domain: string;
  domid: number;
  weight: number;
  cap: number;
  scheduler?: string;
  ratelimitUs?: number;
  tsliceMs?: number;
  vcpus?: SchedVcpuInfo[];
  /** The domain's cpupool. */
  cpupool?: string;
}
export interface HostInfo {
  nrCpus: number;
  totalPages: number;
  freePages: number;
  scheduler: string;
  xenMajor: number;
  xenMinor: number;
  xenExtra: string;
  xenCaps: string;
  commandline: string;
  nowNs: number;
}
export interface Lines { lines: string[] }
export interface VcpuInfo {
  domain: string;
  domid: number;
  vcpu: number;
  pcpu: number;
  state: number;
  cpuTimeNs: number;
  online: boolean;
  /** Hard and soft affinity; empty or absent = all pCPUs. */
  hardAffinity?: number[];
  softAffinity?: number[];
}
export interface VcpuList { vcpus: VcpuInfo[] }

export interface PageUpdate { mfn: number; offset: number; data: Uint8Array }
export interface ForeignPage { domid: number; mfn: number }
export interface BindInterdomain { domid: number; remotePort: number }
export interface DmMapRam { domid: number; gfn?: number; count?: number }
export interface DmIoreqServer { domid: number; base: number; size: number }
export interface DmRam { ramBase: number; ramBytes: number; mfns: number[]; pages: Uint8Array[] }
export interface Port { port: number }
export interface ConsoleInput { domain: DomainRef; data: Uint8Array }
export interface XenstoreOp { op: 'read' | 'write' | 'mkdir' | 'rm' | 'directory' | 'get-perms' | 'set-perms' | string; path: string; value?: Uint8Array; perms?: string[] }
export interface XenstoreResult { value?: Uint8Array; list?: string[] }
export interface GrantMap { domid: number; ref: number; readonly?: boolean }
export interface GrantHandle { handle: number }
export interface GrantCopy { domid: number; ref: number; offset: number; data?: Uint8Array; len?: number }
export interface GrantResult { status: number; handle?: number; page?: Uint8Array; data?: Uint8Array; mfn?: number }
export interface DomainCreateEmpty {
  name: string;
  nrPages: number;
  weight?: number;
  cap?: number;
  maxmemPages?: number;
  /** Hard and soft affinity (as CreateDomain's). */
  cpus?: number[];
  cpusSoft?: number[];
  /** HVM RAM: allocate aligned 4 MiB extents where free, so the G-stage can use megapages. */
  superpages?: boolean;
  /** The cpupool (as CreateDomain's). */
  pool?: string;
  /** The CPU engine (as CreateDomain's; empty = the machine's). */
  cpuEngine?: string;
}
export interface EmptyDomain { domid: number; p2m: number[]; sharedInfoMfn: number; storePort: number; consolePort: number }
export interface DomainBuild {
  domid: number;
  pages: PageUpdate[];
  entry: number;
  startInfoVa: number;
  stackTop: number;
  l2Mfn: number;
  vcpus: number;
  virtBase: number;
  storeVa: number;
  consoleVa: number;
  paused?: boolean;
  /** HVM builds: mode and shadow policy (non-empty hvmMode = an HVM build) and the device tree's address. */
  hvmMode?: string;
  shadowSync?: string;
  dtbAddr?: number;
}
export interface Dom0Event { port: number; timeNs?: number; pages: PageUpdate[] }
export interface DomainSetup {
  domain: DomainInfo;
  memoryKb: number;
  vcpus: number;
  storeMfn: number;
  storePort: number;
  consoleMfn: number;
  consolePort: number;
  devices?: Device[];
}

/** One operation per request; exactly one key is set. */
export interface RequestOps {
  createDomain: CreateDomain;
  destroyDomain: DomainRef;
  pauseDomain: DomainRef;
  unpauseDomain: DomainRef;
  shutdownDomain: ShutdownDomain;
  listDomains: Empty;
  schedCredit: SchedCredit;
  info: Empty;
  dmesg: Empty;
  vcpuList: DomainRef;
  consoleRead: ConsoleRead;
  mapForeign: ForeignPage;
  unmapForeign: ForeignPage;
  bindInterdomain: BindInterdomain;
  evtchnSend: Port;
  evtchnClose: Port;
  pageWrite: Empty;
  consoleInput: ConsoleInput;
  xenstore: XenstoreOp;
  deviceStats: Empty;
  hvmStats: DomainRef;
  cpupool: CpupoolOp;
  domainTables: DomainRef;
  backendRings: Empty;
  grantMap: GrantMap;
  grantUnmap: GrantHandle;
  grantCopy: GrantCopy;
  domainCreateEmpty: DomainCreateEmpty;
  domainBuild: DomainBuild;
  dom0Event: Dom0Event;
  domainCreated: DomainSetup;
  domainDestroyed: DomainRef;
  deviceRestart: DeviceRef;
  dmMapRam: DmMapRam;
  dmIoreqServer: DmIoreqServer;
}
export type OpName = keyof RequestOps;

/** Every operation, at run time (the compiler checks that the list is complete). */
export const OP_NAMES = [
  'createDomain', 'destroyDomain', 'pauseDomain', 'unpauseDomain', 'shutdownDomain', 'listDomains', 'schedCredit', 'info',
  'dmesg', 'vcpuList', 'consoleRead', 'mapForeign', 'unmapForeign', 'bindInterdomain', 'evtchnSend', 'evtchnClose',
  'pageWrite', 'consoleInput', 'xenstore', 'deviceStats', 'hvmStats', 'cpupool', 'domainTables', 'backendRings', 'grantMap', 'grantUnmap', 'grantCopy', 'domainCreateEmpty', 'domainBuild', 'dom0Event',
  'domainCreated', 'domainDestroyed', 'deviceRestart', 'dmMapRam', 'dmIoreqServer',
] as const satisfies readonly OpName[];
type MissingOp = Exclude<OpName, (typeof OP_NAMES)[number]>;
const _allOps: MissingOp extends never ? true : false = true;
void _allOps;
export type Request = { id: number; writes?: PageUpdate[] } & { [K in OpName]?: RequestOps[K] };

/** Handlers by operation, each taking its own operation's argument (request dispatch as a table). */
export type OpTable<R, K extends OpName = OpName> = { [P in K]: (arg: RequestOps[P]) => R };

/** The operation a request carries (decodeFrame lets exactly one through), or undefined. */
export function requestOp(req: Request): OpName | undefined {
  return OP_NAMES.find((k) => req[k] !== undefined);
}

/**
 * Calls `table`'s handler for the request's operation: `{ result }`, or undefined when the
 * request carries no operation or the table has no handler for it.
 */
export function dispatchRequest<R>(table: Partial<OpTable<R>>, req: Request): { op: OpName; result: R } | undefined {
  const op = requestOp(req);
  if (op === undefined) return undefined;
  const handler = table[op] as ((arg: RequestOps[OpName]) => R) | undefined;
  return handler ? { op, result: handler(req[op]!) } : undefined;
}

export interface ResponseResults {
  domain: DomainInfo;
  domains: DomainList;
  schedCredit: SchedCreditInfo;
  info: HostInfo;
  lines: Lines;
  vcpus: VcpuList;
  console: Uint8Array;
  page: Uint8Array;
  port: number;
  xenstore: XenstoreResult;
  grant: GrantResult;
  emptyDomain: EmptyDomain;
  deviceStats: DeviceStatsList;
  hvmStats: HvmStatsList;
  dmRam: DmRam;
  cpupools: CpupoolList;
  domainTables: DomainTablesList;
  backendRings: BackendRingList;
}
export type Response = { id: number; rc: number; error?: string } & { [K in keyof ResponseResults]?: ResponseResults[K] };

/** Every result kind, at run time (checked complete by the compiler). */
export const RESULT_NAMES = ['domain', 'domains', 'schedCredit', 'info', 'lines', 'vcpus', 'console', 'page', 'port', 'xenstore', 'grant', 'emptyDomain', 'deviceStats', 'hvmStats', 'dmRam', 'cpupools', 'domainTables', 'backendRings'] as const satisfies readonly (keyof ResponseResults)[];
type MissingResult = Exclude<keyof ResponseResults, (typeof RESULT_NAMES)[number]>;
const _allResults: MissingResult extends never ? true : false = true;
void _allResults;
export interface Notice { domainState?: DomainInfo }

export interface Frame {
  hello?: Hello;
  welcome?: Welcome;
  refused?: Refused;
  request?: Request;
  response?: Response;
  notice?: Notice;
}

export class WireError extends Error {
  override readonly name = 'WireError';
}

const root = protobuf.loadSync(fileURLToPath(new URL('./pvsim.proto', import.meta.url)));
export const FrameType = root.lookupType('pvsim.Frame');

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, bytes: Uint8Array as unknown as typeof String, defaults: true, oneofs: false };

export function encodeFrame(frame: Frame): Uint8Array {
  const err = FrameType.verify(frame);
  if (err) throw new WireError(`bad frame: ${err}`);
  const bytes = FrameType.encode(FrameType.fromObject(frame)).finish();
  if (bytes.length > MAX_FRAME_BYTES) throw new WireError(`frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  return bytes;
}

/**
 * Refuses a message that sets a oneof more than once. protobuf's rule (and protobufjs's
 * decoder) is that the last member on the wire wins, so a frame carrying two operations
 * would silently become its last one; pvsim's protocol refuses it, so the count is taken
 * on the wire, before decoding. Walks nested messages too (bytes fields are skipped).
 */
const ONEOF_NOUNS: Record<string, string> = { body: 'message', op: 'operation', result: 'result', what: 'notice' };
/**
 * Fields (tags, nested ones included) one frame may hold. An empty repeated message is 2
 * bytes on the wire and an object of about 300 bytes once decoded: a 24 MiB frame of empty
 * `writes` held a hypervisor for 28 s at 3.5 GiB. The largest real frame (a DomainBuild of
 * a 16 MiB kernel with its page tables) has about 17,000, 4 per page written; packed
 * repeated numbers count once.
 */
export const MAX_WIRE_FIELDS = 1 << 18;
function checkOneofs(type: protobuf.Type, bytes: Uint8Array, fields = { n: 0 }): void {
  const r = protobuf.Reader.create(bytes);
  const seen = new Map<string, number>();
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (++fields.n > MAX_WIRE_FIELDS) throw new WireError(`a frame holds at most ${MAX_WIRE_FIELDS} fields`);
    const field = type.fieldsById[tag >>> 3];
    const wireType = tag & 7;
    if (field?.partOf) {
      const n = (seen.get(field.partOf.name) ?? 0) + 1;
      seen.set(field.partOf.name, n);
      if (n > 1) {
        const noun = ONEOF_NOUNS[field.partOf.name] ?? `${field.partOf.name} member`;
        throw new WireError(`a ${type.name.toLowerCase()} carries exactly one ${noun}, this one more than one`);
      }
    }
    field?.resolve();
    if (field && wireType === 2 && field.resolvedType instanceof protobuf.Type) {
      checkOneofs(field.resolvedType, r.bytes(), fields);
    } else {
      r.skipType(wireType);
    }
  }
}

/** Decodes one frame; a malformed or oversized one is a WireError (the caller closes the connection). */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length > MAX_FRAME_BYTES) throw new WireError(`frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  let msg: protobuf.Message;
  try {
    checkOneofs(FrameType, bytes);
    msg = FrameType.decode(bytes);
  } catch (e) {
    if (e instanceof WireError) throw e;
    throw new WireError(`malformed frame: ${(e as Error).message}`);
  }
  const obj = FrameType.toObject(msg, TO_OBJECT) as Frame;
  const set = Object.keys(obj).length;
  if (set !== 1) throw new WireError(`a frame carries exactly one message, this one ${set}`);
  if (obj.request) {
    const ops = Object.keys(obj.request).filter((k) => k !== 'id' && k !== 'writes');
    if (ops.length !== 1) throw new WireError(`a request carries exactly one operation, this one ${ops.length}`);
    obj.request.id ??= 0;
  }
  if (obj.response) {
    obj.response.id ??= 0;
    obj.response.rc ??= 0;
  }
  return obj;
}
