// The FIFO event ABI (Xen's event_fifo.c): 2^17 ports, each with a 32-bit event word
// (PENDING, MASKED, LINKED, BUSY, and a 17-bit LINK to the next event of its queue) in an
// event array the guest hands over a page at a time (EVTCHNOP_expand_array), and per vCPU a
// control block (EVTCHNOP_init_control) with a READY bit and a HEAD per priority queue.
//
// Raising port p (priority q) on vCPU v:
//   1. no event word yet (its array page is missing): remember it pending; it is raised
//      when the page is added
//   2. set PENDING; if the port is neither MASKED nor LINKED: set LINKED, link p after the
//      queue's tail if that tail is still LINKED (the guest has not consumed it), else make
//      p the queue's HEAD; p becomes the tail
//   3. if p started a queue and READY bit q was clear: set it and mark events pending (the
//      same evtchn_upcall_pending and upcall line as the 2-level ABI)
//   4. if PENDING was clear: wake pollers
// The guest consumes from HEAD along LINK, clearing LINKED; the hypervisor only ever
// writes LINK into a word that is still LINKED, and HEAD when the queue is empty.
//
// Event words and control blocks live in guest frames (a PV guest names them by frame
// number, as Xen's PV guests do); each one holds a general and a writable type reference
// until the FIFO state goes, so a guest cannot free a frame the hypervisor still writes.
// dom0 runs in TypeScript and has no guest memory: the control service gives it host pages
// (fifoInitHost / fifoExpandHost) and consumes its queues as Linux's upcall handler does
// (fifoConsume).

import { xenErr } from '../../protocol/xen/errno.ts';
import { EVTCHN_FIFO, EVTCHN_FIFO_CONTROL_BLOCK, EVTCHN_FIFO_EVENT_WORDS_PER_PAGE, EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES } from '../../protocol/xen/event_channel.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { FrameType } from '../mm/frame_table.ts';
import { getPageAndType, mmContext, putPageAndType } from '../mm/page_types.ts';
import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import type { DomainEvtchn, FifoDomain, FifoVcpu } from './state.ts';
import { checkPollers, markEventsPending } from './upcall.ts';

const PENDING = (1 << EVTCHN_FIFO.PENDING) >>> 0;
const MASKED = 1 << EVTCHN_FIFO.MASKED;
const LINKED = 1 << EVTCHN_FIFO.LINKED;
const BUSY = 1 << EVTCHN_FIFO.BUSY;
const LINK_MASK = EVTCHN_FIFO.LINK_MASK;
/** Word index of head[0] in the control block. */
const HEAD0 = EVTCHN_FIFO_CONTROL_BLOCK.head / 4;

function newFifoVcpu(): FifoVcpu {
  return { control: null, controlPa: -1, controlMfn: -1, tail: new Uint32Array(EVTCHN_FIFO.MAX_QUEUES) };
}

/** Whether `port` has its event word (its event array page was added). */
function hasWord(f: FifoDomain, port: number): boolean {
  return port < f.numEvtchns;
}

function readWord(f: FifoDomain, port: number): number {
  return f.pages[port >>> 10]![port & 1023]!;
}

function writeWord(hv: HypervisorServices, f: FifoDomain, port: number, w: number): void {
  const page = port >>> 10;
  f.pages[page]![port & 1023] = w;
  const mfn = f.pageMfns[page]!;
  if (mfn >= 0) hv.mem.noteStore(mfn * PAGE_SIZE + (port & 1023) * 4, 4);
}

function writeControl(hv: HypervisorServices, v: FifoVcpu, index: number, value: number): void {
  v.control![index] = value;
  if (v.controlPa >= 0) hv.mem.noteStore(v.controlPa + index * 4, 4);
}

/** Xen's evtchn_fifo_set_pending() for `port` of `domain`, notifying vCPU `vcpuId`. */
export function setPendingFifo(hv: HypervisorServices, domain: Domain, vcpuId: number, port: number): void {
  const e = domain.evtchn!;
  const f = e.fifo!;
  if (!hasWord(f, port)) {
    e.pendingNoWord[port] = 1;
    return;
  }
  const v = f.vcpus[vcpuId];
  // No control block: the guest may not unmask an event before it registers one, so the
  // event is dropped, as Xen drops it.
  if (v === undefined || v.control === null) return;
  const w = readWord(f, port);
  const wasPending = (w & PENDING) !== 0;
  let linked = true;
  const q = e.priority[port]!;
  if ((w & MASKED) === 0 && (w & LINKED) === 0) {
    writeWord(hv, f, port, (w | PENDING | LINKED) >>> 0);
    // A port that was the tail of another queue (its priority or vCPU changed since) no
    // longer ends that queue: linking to it there would corrupt this one.
    for (const other of f.vcpus) {
      for (let k = 0; k < EVTCHN_FIFO.MAX_QUEUES; k++) if (other.tail[k] === port && (other !== v || k !== q)) other.tail[k] = 0;
    }
    linked = false;
    const tail = v.tail[q]!;
    if (tail !== 0 && tail !== port && hasWord(f, tail)) {
      const tw = readWord(f, tail);
      // Only a word the guest has not consumed (still LINKED) may take the link.
      if ((tw & LINKED) !== 0) {
        writeWord(hv, f, tail, ((tw & ~(BUSY | LINK_MASK)) | port) >>> 0);
        linked = true;
      }
    }
    if (!linked) writeControl(hv, v, HEAD0 + q, port);
    v.tail[q] = port;
  } else if (!wasPending) {
    writeWord(hv, f, port, (w | PENDING) >>> 0);
  }
  if (!wasPending) e.stats.setPending++;
  if (!linked) {
    const ready = v.control[0]!;
    const bit = 1 << q;
    if ((ready & bit) === 0) {
      writeControl(hv, v, 0, (ready | bit) >>> 0);
      // dom0 (in TypeScript) takes the upcall itself; a guest gets evtchn_upcall_pending.
      if (domain.onEvent === null || domain.onEvent(port) === false) {
        const vcpu = domain.vcpus[vcpuId];
        if (vcpu) markEventsPending(hv, vcpu);
      }
    }
  }
  if (!wasPending) checkPollers(hv, domain, port);
}

/** Xen's evtchn_fifo_clear_pending(): only PENDING; the consumer skips a linked event that is not pending. */
export function clearPendingFifo(hv: HypervisorServices, e: DomainEvtchn, port: number): void {
  const f = e.fifo!;
  if (port < e.pendingNoWord.length) e.pendingNoWord[port] = 0;
  if (!hasWord(f, port)) return;
  const w = readWord(f, port);
  if ((w & PENDING) !== 0) writeWord(hv, f, port, (w & ~PENDING) >>> 0);
}

/** Xen's evtchn_fifo_unmask(): clear MASKED; relink if pending. */
export function unmaskFifo(hv: HypervisorServices, domain: Domain, port: number): void {
  const e = domain.evtchn!;
  const f = e.fifo!;
  if (!hasWord(f, port)) return;
  const w = readWord(f, port);
  writeWord(hv, f, port, (w & ~MASKED) >>> 0);
  if ((w & PENDING) !== 0) setPendingFifo(hv, domain, e.notifyVcpu[port]!, port);
}

export function isPendingFifo(e: DomainEvtchn, port: number): boolean {
  const f = e.fifo!;
  return hasWord(f, port) && (readWord(f, port) & PENDING) !== 0;
}

export function isMaskedFifo(e: DomainEvtchn, port: number): boolean {
  const f = e.fifo!;
  return !hasWord(f, port) || (readWord(f, port) & MASKED) !== 0;
}

/** Xen's evtchn_fifo_is_busy(): still LINKED, so the port cannot be allocated again yet. */
export function isBusyFifo(e: DomainEvtchn, port: number): boolean {
  const f = e.fifo!;
  return hasWord(f, port) && (readWord(f, port) & LINKED) !== 0;
}

/** The event word of `port` (0 without a page), for dumps and tests. */
export function fifoEventWord(e: DomainEvtchn, port: number): number {
  const f = e.fifo;
  return f && hasWord(f, port) ? readWord(f, port) : 0;
}

// --- setting up ---------------------------------------------------------------------

/** A PV guest's frame `gfn` (its machine frame number), referenced writable; an errno if not its own. */
function mapGuestPage(hv: HypervisorServices, d: Domain, gfnLo: number, gfnHi: number): { mfn: number; bytes: Uint8Array } | number {
  if (gfnHi !== 0 || !hv.frames.isValid(gfnLo)) return xenErr('EINVAL');
  const rc = getPageAndType(mmContext(hv), gfnLo, FrameType.Writable, d);
  if (rc < 0) return xenErr('EINVAL');
  return { mfn: gfnLo, bytes: hv.frames.frameStorage(gfnLo) };
}

function unmapGuestPage(hv: HypervisorServices, mfn: number): void {
  if (mfn >= 0) putPageAndType(mmContext(hv), mfn);
}

/** Xen's setup_ports(): ports bound under the 2-level ABI keep their pending state and get the default priority. */
function setupPorts(e: DomainEvtchn): void {
  for (let port = 1; port < e.validPorts; port++) {
    if (e.shared.isPending(port)) e.pendingNoWord[port] = 1;
    e.priority[port] = EVTCHN_FIFO.PRIORITY_DEFAULT;
  }
}

function newFifoDomain(nrVcpus: number): FifoDomain {
  return { pages: [], pageMfns: [], numEvtchns: 0, vcpus: Array.from({ length: nrVcpus }, newFifoVcpu) };
}

/**
 * EVTCHNOP_init_control: registers vCPU `vcpuId`'s control block at `offset` in frame
 * `gfn`; the first call switches the domain to the FIFO ABI (with no event array pages
 * yet). Returns 0 or a negative errno; on success the caller reports link_bits = 17.
 */
export function evtchnInitControl(hv: HypervisorServices, d: Domain, gfnLo: number, gfnHi: number, offset: number, vcpuId: number): number {
  const e = d.evtchn!;
  if (!Number.isInteger(vcpuId) || d.vcpus[vcpuId] === undefined) return xenErr('ENOENT');
  if (offset > PAGE_SIZE - EVTCHN_FIFO_CONTROL_BLOCK.SIZE || (offset & 7) !== 0) return xenErr('EINVAL');
  // HVM guests name frames through their p2m, which this path does not walk: they keep
  // the 2-level ABI (Linux falls back to it when init_control fails).
  if (d.hvm) return xenErr('EOPNOTSUPP');
  const first = e.fifo === null;
  const f = e.fifo ?? newFifoDomain(d.vcpus.length);
  const v = f.vcpus[vcpuId]!;
  if (v.control !== null) return xenErr('EINVAL');
  const page = mapGuestPage(hv, d, gfnLo, gfnHi);
  if (typeof page === 'number') return page;
  v.control = new Uint32Array(page.bytes.buffer, page.bytes.byteOffset + offset, EVTCHN_FIFO_CONTROL_BLOCK.SIZE / 4);
  v.controlPa = page.mfn * PAGE_SIZE + offset;
  v.controlMfn = page.mfn;
  if (first) {
    e.fifo = f;
    setupPorts(e);
  }
  return 0;
}

/** Xen's add_page_to_event_array(): one more page of 1024 event words; events pending meanwhile are raised. */
function addPage(hv: HypervisorServices, d: Domain, words: Uint32Array, mfn: number): void {
  const e = d.evtchn!;
  const f = e.fifo!;
  let port = f.numEvtchns;
  f.pages.push(words);
  f.pageMfns.push(mfn);
  f.numEvtchns += EVTCHN_FIFO_EVENT_WORDS_PER_PAGE;
  for (; port < f.numEvtchns && port < e.validPorts; port++) {
    if (e.pendingNoWord[port]) {
      e.pendingNoWord[port] = 0;
      setPendingFifo(hv, d, e.notifyVcpu[port]!, port);
    }
  }
}

/** EVTCHNOP_expand_array: -EOPNOTSUPP before init_control, -ENOSPC with all 128 pages, -EINVAL for a frame not the guest's. */
export function evtchnExpandArray(hv: HypervisorServices, d: Domain, gfnLo: number, gfnHi: number): number {
  const e = d.evtchn!;
  const f = e.fifo;
  if (f === null || e.dying) return xenErr('EOPNOTSUPP');
  if (f.pages.length >= EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES) return xenErr('ENOSPC');
  if (d.hvm) return xenErr('EOPNOTSUPP');
  const page = mapGuestPage(hv, d, gfnLo, gfnHi);
  if (typeof page === 'number') return page;
  addPage(hv, d, new Uint32Array(page.bytes.buffer, page.bytes.byteOffset, EVTCHN_FIFO_EVENT_WORDS_PER_PAGE), page.mfn);
  return 0;
}

/** EVTCHNOP_set_priority: -EINVAL for an invalid port or a priority past EVTCHN_FIFO_PRIORITY_MIN; -ENOSYS under 2-level. */
export function evtchnSetPriority(d: Domain, port: number, priority: number): number {
  const e = d.evtchn!;
  if (!e.portIsValid(port)) return xenErr('EINVAL');
  if (e.fifo === null) return xenErr('ENOSYS');
  if (!(priority >= 0 && priority <= EVTCHN_FIFO.PRIORITY_MIN)) return xenErr('EINVAL');
  // Only future events use the new queue; one already linked stays where it is.
  e.priority[port] = priority;
  return 0;
}

/** Xen's evtchn_fifo_destroy(): drops the references on every page; the domain is back on 2-level. */
export function fifoDestroy(hv: HypervisorServices, e: DomainEvtchn): void {
  const f = e.fifo;
  if (f === null) return;
  e.fifo = null;
  for (const v of f.vcpus) unmapGuestPage(hv, v.controlMfn);
  for (const mfn of f.pageMfns) unmapGuestPage(hv, mfn);
}

// --- dom0: the FIFO ABI over host memory ----------------------------------------------------

/** Switches a domain without guest memory (dom0 in TypeScript) to FIFO, vCPU 0's control block in host memory. */
export function fifoInitHost(d: Domain, nrVcpus: number): void {
  const e = d.evtchn!;
  if (e.fifo !== null) return;
  const f = newFifoDomain(Math.max(1, nrVcpus));
  f.vcpus[0]!.control = new Uint32Array(EVTCHN_FIFO_CONTROL_BLOCK.SIZE / 4);
  e.fifo = f;
  setupPorts(e);
}

/** Adds host event array pages until `port` has an event word (as Linux's evtchn_fifo_setup expands). */
export function fifoExpandHost(hv: HypervisorServices, d: Domain, port: number): void {
  const f = d.evtchn!.fifo!;
  while (port >= f.numEvtchns && f.pages.length < EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES) {
    addPage(hv, d, new Uint32Array(EVTCHN_FIFO_EVENT_WORDS_PER_PAGE), -1);
  }
}

/**
 * Consumes vCPU `vcpuId`'s queues as Linux's FIFO upcall handler does: the highest-priority
 * READY queue first, from HEAD along LINK, clearing LINKED; a port still PENDING and not
 * MASKED has PENDING cleared and is handed to `handle`. Returns the ports handled.
 */
export function fifoConsume(hv: HypervisorServices, d: Domain, vcpuId: number, handle: (port: number) => void): number {
  const f = d.evtchn?.fifo;
  const v = f?.vcpus[vcpuId];
  if (!f || !v || v.control === null) return 0;
  let n = 0;
  // Bounded: every step unlinks one event, and at most 2^17 events can be linked.
  for (let guard = 0; guard <= EVTCHN_FIFO.NR_CHANNELS * 2; guard++) {
    const ready = v.control[0]!;
    if (ready === 0) break;
    const q = 31 - Math.clz32(ready & -ready);
    const port = v.control[HEAD0 + q]!;
    if (port === 0 || !hasWord(f, port)) {
      writeControl(hv, v, 0, (ready & ~(1 << q)) >>> 0);
      continue;
    }
    const w = readWord(f, port);
    const next = (w & LINKED) !== 0 ? w & LINK_MASK : 0;
    writeControl(hv, v, HEAD0 + q, next);
    if (next === 0) writeControl(hv, v, 0, (ready & ~(1 << q)) >>> 0);
    let nw = w & ~(LINKED | LINK_MASK);
    const deliver = (w & PENDING) !== 0 && (w & MASKED) === 0;
    if (deliver) nw &= ~PENDING;
    writeWord(hv, f, port, nw >>> 0);
    if (deliver) {
      n++;
      handle(port);
    }
  }
  return n;
}
