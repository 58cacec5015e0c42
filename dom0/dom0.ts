// The dom0 process: connects to the hypervisor as the privileged domain, runs xenstored,
// and serves pvsim's own clients (pvsim xl) over the protocol. The toolstack here keeps
// XenStore's view of domains (/local/domain/<domid>/...) in step with what it asks the
// hypervisor to do, as xl/libxl does in Xen's dom0.

import { connect, serve, type Peer } from '../protocol/session.ts';
import type { DomainInfo, OpName, Request, RequestOps, Response } from '../protocol/wire.ts';
import { startXenstored, XsClient, type XenstoredServer } from './xenstore/index.ts';
import { XEN_DOMINF } from '../protocol/xen/domctl.ts';

export interface Dom0Options {
  hypervisorUrl: string;
  hypervisorToken: string;
  clientToken: string;
  xenstoredPath: string;
  host?: string;
  port?: number;
  log?: (line: string) => void;
}

export interface Dom0Handle {
  url: string;
  xenstoredPath: string;
  close(): Promise<void>;
  /** Resolves when the hypervisor connection is lost. */
  lost: Promise<string>;
}

const OPS: OpName[] = [
  'createDomain',
  'destroyDomain',
  'pauseDomain',
  'unpauseDomain',
  'shutdownDomain',
  'listDomains',
  'schedCredit',
  'info',
  'dmesg',
  'vcpuList',
  'consoleRead',
];

function opOf(req: Request): OpName | undefined {
  return OPS.find((k) => req[k] !== undefined);
}

export async function startDom0(opts: Dom0Options): Promise<Dom0Handle> {
  const log = opts.log ?? (() => {});
  const { peer: hv } = await connect(opts.hypervisorUrl, 'dom0', opts.hypervisorToken);
  let xs: XenstoredServer;
  try {
    xs = await startXenstored({ socketPath: opts.xenstoredPath });
  } catch (e) {
    hv.close();
    throw e;
  }
  const store = new XsClient(xs.daemon, { domid: 0, label: 'toolstack' });
  await writeDom0Entries(store);
  const lost = new Promise<string>((res) => (hv.onClose = res));
  const clients = new Set<Peer>();

  // Keep XenStore in step with domains that die on their own (SCHEDOP_shutdown, crash).
  hv.onNotice = (n) => {
    if (n.domainState) void onDomainState(store, n.domainState, log);
  };

  const forward = async (req: Request): Promise<Omit<Response, 'id'>> => {
    const op = opOf(req);
    if (!op) return { rc: -38, error: 'unknown operation' };
    const r = await hv.request(op, req[op] as RequestOps[typeof op]);
    const { id: _id, ...rest } = r;
    if (r.rc === 0) await afterOp(store, op, req, r, log);
    return rest;
  };

  const server = await serve({
    host: opts.host,
    port: opts.port,
    role: 'client',
    token: opts.clientToken,
    name: 'pvsim-dom0',
    now: () => 0,
    onPeer: (p) => {
      clients.add(p);
      p.onClose = () => clients.delete(p);
    },
    handler: forward,
  });
  log(`dom0: serving clients at ${server.url}, xenstored at ${opts.xenstoredPath}`);
  return {
    url: server.url,
    xenstoredPath: opts.xenstoredPath,
    lost,
    close: async () => {
      for (const c of clients) c.close('dom0 stopping');
      await server.close();
      store.close();
      await xs.close();
      hv.close('dom0 stopping');
    },
  };
}

async function writeDom0Entries(xs: XsClient): Promise<void> {
  await xs.write('/local/domain/0/name', 'Domain-0');
  await xs.write('/local/domain/0/domid', '0');
  await xs.mkdir('/vm');
  await xs.mkdir('/local/domain/0/backend');
}

/** Xen's per-domain XenStore layout, written when a domain is created. */
async function writeDomainEntries(xs: XsClient, d: DomainInfo, memoryKb: number, vcpus: number): Promise<void> {
  const base = `/local/domain/${d.domid}`;
  await xs.write(`${base}/name`, d.name);
  await xs.write(`${base}/domid`, String(d.domid));
  await xs.write(`${base}/vm`, `/vm/${d.domid}`);
  await xs.write(`${base}/memory/target`, String(memoryKb));
  await xs.write(`${base}/memory/static-max`, String(memoryKb));
  for (let i = 0; i < vcpus; i++) await xs.write(`${base}/cpu/${i}/availability`, i === 0 ? 'online' : 'offline');
  await xs.mkdir(`${base}/device`);
  await xs.mkdir(`${base}/control`);
  await xs.mkdir(`${base}/data`);
  await xs.write(`/vm/${d.domid}/name`, d.name);
  // As libxl: dom0 owns the domain's directory, the guest may read it, and the guest
  // owns (may write) its data, device and control subdirectories.
  await xs.setPerms(base, ['n0', `r${d.domid}`]);
  for (const sub of ['data', 'device', 'control']) await xs.setPerms(`${base}/${sub}`, [`n${d.domid}`]);
}

async function afterOp(xs: XsClient, op: OpName, req: Request, r: Response, log: (l: string) => void): Promise<void> {
  try {
    if (op === 'createDomain' && r.domain) {
      const c = req.createDomain!;
      await writeDomainEntries(xs, r.domain, c.memoryMib * 1024, c.vcpus || 1);
      log(`dom0: created d${r.domain.domid} ${r.domain.name}`);
    } else if (op === 'destroyDomain') {
      const ref = req.destroyDomain!;
      const domid = ref.domid ?? -1;
      if (domid > 0) await removeDomainEntries(xs, domid);
      else if (ref.name) {
        for (const id of await xs.directory('/local/domain')) {
          if ((await xs.read(`/local/domain/${id}/name`).catch(() => '')) === ref.name) await removeDomainEntries(xs, Number(id));
        }
      }
    }
  } catch (e) {
    log(`dom0: xenstore update after ${op} failed: ${(e as Error).message}`);
  }
}

async function removeDomainEntries(xs: XsClient, domid: number): Promise<void> {
  await xs.rm(`/local/domain/${domid}`).catch(() => {});
  await xs.rm(`/vm/${domid}`).catch(() => {});
}

async function onDomainState(xs: XsClient, d: DomainInfo, log: (l: string) => void): Promise<void> {
  if (d.flags & XEN_DOMINF.shutdown) {
    const reason = (d.flags >>> XEN_DOMINF.shutdownshift) & XEN_DOMINF.shutdownmask;
    log(`dom0: d${d.domid} ${d.name} shut down (reason ${reason})`);
    await xs.write(`/local/domain/${d.domid}/control/shutdown-reason`, String(reason)).catch(() => {});
  }
}
