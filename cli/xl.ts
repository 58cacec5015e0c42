// `pvsim xl <command>`: Xen's xl, talking to a running dom0 (see `pvsim up`).

import { readFileSync } from 'node:fs';
import { KernelFileError, readKernelFile } from '../xenguest/kernel_file.ts';
import { Command, InvalidArgumentError } from 'commander';
import { connect, type Peer } from '../protocol/session.ts';
import type { DomainRef, Response, SchedCredit } from '../protocol/wire.ts';
import { clientEndpoint, NotRunningError } from './runtime.ts';
import { parseXlCfg, XlCfgError } from '../dom0/toolstack/xlcfg/index.ts';
import { parseXlCfgSettings } from '../dom0/toolstack/xlcfg/syntax.ts';
import { parseCpuList } from '../dom0/toolstack/validate.ts';
import { TopError, XENTOP_VERSION, xlTop } from './xl_top.ts';
import { formatList, formatSchedCredit, formatSchedCredit2, formatSchedRtds, formatVcpuList, formatInfo, formatCpupoolList, DEFAULT_CREDIT_POOL, type SchedRtdsRow } from '../dom0/toolstack/format.ts';
import { configDevices } from '../dom0/toolstack/devices.ts';
import { SHUTDOWN } from '../protocol/xen/hypercall.ts';
import { XEN_DOMINF } from '../protocol/xen/domctl.ts';
import { CONSOLE_INPUT_BYTES } from '../dom0/backends/console/backend.ts';
import { PAGE_SIZE } from '../protocol/xen/xen.ts';

class XlError extends Error {}

function ref(dom: string): DomainRef {
  return /^\d+$/.test(dom) ? { domid: Number(dom) } : { name: dom };
}

async function session(): Promise<Peer> {
  const { url, token, note } = clientEndpoint();
  if (note) process.stderr.write(`xl: ${note}\n`);
  return (await connect(url, 'client', token)).peer;
}

function check(r: Response, what: string): Response {
  if (r.rc !== 0) throw new XlError(`${what}: ${r.error || `error ${r.rc}`}`);
  return r;
}

/**
 * Asks each domain's scheduler parameters. Listing every domain (no -d), a domain whose
 * cpupool runs another scheduler is left out, as xl lists only the pools of the scheduler
 * asked; named with -d, it is an error.
 */
async function askSched(p: Peer, doms: DomainRef[], named: boolean, what: string, req: (d: DomainRef) => SchedCredit): Promise<NonNullable<Response['schedCredit']>[]> {
  const out: NonNullable<Response['schedCredit']>[] = [];
  for (const d of doms) {
    const r = await p.request('schedCredit', req(d));
    if (!named && r.rc !== 0 && /runs the \S+ scheduler, not/.test(r.error ?? '')) continue;
    out.push(check(r, what).schedCredit!);
  }
  return out;
}

/** Rows grouped by cpupool, pools in order of first appearance (xl prints one block per pool). */
function byPool<T>(infos: readonly { cpupool?: string }[], rows: readonly T[]): [string, T[]][] {
  const groups = new Map<string, T[]>();
  infos.forEach((info, i) => {
    const k = info.cpupool || 'Pool-0';
    groups.set(k, [...(groups.get(k) ?? []), rows[i]!]);
  });
  return [...groups];
}

const intArg = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
};

interface TopCliOptions { delay?: number; networks?: boolean; vbds?: boolean; repeatHeader?: boolean; vcpus?: boolean; batch?: boolean; iterations?: number; fullName?: boolean; dom0First?: boolean; version?: boolean }

const numArg = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${name} must be ${min}..${max} seconds, got "${v}"`);
  return n;
};

export function xlProgram(out: (s: string) => void): Command {
  const xl = new Command('xl').description("Xen's xl for pvsim: talks to the dom0 started by `pvsim up`").showHelpAfterError();
  const run = (fn: (peer: Peer) => Promise<void>) => async () => {
    const peer = await session();
    try {
      await fn(peer);
    } finally {
      peer.close();
    }
  };
  const withPeer = <A extends unknown[]>(fn: (peer: Peer, ...args: A) => Promise<void>) => async (...args: A) => {
    await run((p) => fn(p, ...args))();
  };

  xl.command('list')
    .description('list domains (xl list)')
    .action(
      withPeer(async (p) => {
        const r = check(await p.request('listDomains', {}), 'list');
        const rows = (r.domains?.domains ?? []).map((d) => ({
          name: d.name,
          domid: d.domid,
          memMiB: Math.floor((d.totPages * PAGE_SIZE) / (1024 * 1024)),
          vcpus: d.onlineVcpus,
          flags: d.flags,
          cpuTimeNs: d.cpuTimeNs,
        }));
        out(formatList(rows));
      }),
    );

  xl.command('create')
    .description('create a domain from an xl.cfg file')
    .argument('<cfg>', 'xl.cfg file')
    .option('-p, --paused', 'leave the domain paused after creating it')
    .action(
      withPeer(async (p, file: string, opts: { paused?: boolean }) => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          throw new XlError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
        }
        const cfg = parseXlCfg(text, file);
        for (const w of cfg.warnings) process.stderr.write(`warning: ${w}\n`);
        if (cfg.type === 'pvh') throw new XlError(`${file}: type "pvh" is not supported (use "pv", or "hvm" for an unmodified kernel)`);
        let kernel: Uint8Array;
        try {
          kernel = readKernelFile(cfg.kernelPath!);
        } catch (e) {
          if (!(e instanceof KernelFileError)) throw e;
          throw new XlError(`${file}: kernel: ${e.message}`);
        }
        const devices = configDevices(cfg);
        const r = check(
          await p.request('createDomain', {
            name: cfg.name,
            kernel,
            cmdline: cfg.cmdline,
            memoryMib: cfg.memoryMiB,
            maxmemMib: cfg.maxmemMiB,
            vcpus: cfg.vcpus,
            weight: cfg.weight,
            cap: cfg.cap,
            cpus: cfg.cpus ? [...cfg.cpus] : [],
            cpusSoft: cfg.cpusSoft ? [...cfg.cpusSoft] : [],
            pool: cfg.pool ?? '',
            paused: opts.paused ?? false,
            onPoweroff: cfg.onPoweroff,
            onReboot: cfg.onReboot,
            onCrash: cfg.onCrash,
            devices,
            type: cfg.type,
            ...(cfg.cpuEngine ? { cpuEngine: cfg.cpuEngine } : {}),
            ...(cfg.type === 'hvm' ? { hvmMode: cfg.hvmMode, shadowSync: cfg.shadowSync, ...(cfg.xenPlatformPci ? {} : { noXenPlatform: true }) } : {}),
          }),
          `create ${cfg.name}`,
        );
        out(`Parsing config from ${file}\nDomain ${r.domain!.domid} (${r.domain!.name}) created\n`);
      }),
    );

  for (const [cmd, op, desc] of [
    ['destroy', 'destroyDomain', 'destroy a domain at once'],
    ['pause', 'pauseDomain', 'pause a domain'],
    ['unpause', 'unpauseDomain', 'unpause a domain'],
  ] as const) {
    xl.command(cmd)
      .description(desc)
      .argument('<domain>', 'domain name or id')
      .action(withPeer(async (p, dom: string) => void check(await p.request(op, ref(dom)), `${cmd} ${dom}`)));
  }

  for (const [cmd, reason] of [
    ['shutdown', SHUTDOWN.poweroff],
    ['reboot', SHUTDOWN.reboot],
  ] as const) {
    xl.command(cmd)
      .description(`ask a domain to ${cmd} (SCHEDOP_remote_shutdown with reason ${cmd === 'reboot' ? 'reboot' : 'poweroff'})`)
      .argument('<domain>', 'domain name or id')
      .action(withPeer(async (p, dom: string) => void check(await p.request('shutdownDomain', { domain: ref(dom), reason }), `${cmd} ${dom}`)));
  }

  xl.command('vcpu-list')
    .description('list vCPUs (xl vcpu-list)')
    .argument('[domain]', 'domain name or id (default: all)')
    .action(
      withPeer(async (p, dom?: string) => {
        const r = check(await p.request('vcpuList', dom ? ref(dom) : {}), 'vcpu-list');
        const info = check(await p.request('info', {}), 'info');
        const rows = (r.vcpus?.vcpus ?? []).map((v) => ({
          name: v.domain,
          domid: v.domid,
          vcpu: v.vcpu,
          cpu: v.pcpu,
          online: v.online,
          running: v.state === 0,
          blocked: v.state === 2,
          cpuTimeNs: v.cpuTimeNs,
          hardAffinity: v.hardAffinity?.length ? v.hardAffinity : undefined,
          softAffinity: v.softAffinity?.length ? v.softAffinity : undefined,
        }));
        out(formatVcpuList(rows, info.info!.nrCpus));
      }),
    );

  xl.command('cpupool-list')
    .description('list cpupools: pCPUs, scheduler, domains (xl cpupool-list)')
    .argument('[pool]', 'only this pool')
    .option('-c, --cpus', 'list each pool\'s pCPUs')
    .action(
      withPeer(async (p, pool: string | undefined, opts: { cpus?: boolean }) => {
        const r = check(await p.request('cpupool', { op: 'list' }), 'cpupool-list');
        const pools = r.cpupools?.pools ?? [];
        if (pool !== undefined && !pools.some((x) => x.name === pool)) throw new XlError(`Pool '${pool}' does not exist`);
        out(formatCpupoolList(pools.filter((x) => pool === undefined || x.name === pool), !!opts.cpus));
      }),
    );

  xl.command('cpupool-create')
    .description('create a cpupool on free pCPUs (xl cpupool-create [CONFIG] [name=... sched=... cpus=...])')
    .argument('[settings...]', 'a cpupool config file and/or KEY=VALUE settings: name, sched, cpus')
    .option('-n, --dryrun', 'print the pool, create nothing')
    .action(
      withPeer(async (p, settings: string[], opts: { dryrun?: boolean }) => {
        const file = settings.find((s) => !s.includes('='));
        const extra = settings.filter((s) => s.includes('='));
        if (settings.filter((s) => !s.includes('=')).length > 1) throw new XlError('cpupool-create: one config file at most');
        let text = '';
        if (file) {
          try {
            text = readFileSync(file, 'utf8');
          } catch (e) {
            throw new XlError(`Failed to read config file: ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
          }
        }
        // KEY=VALUE arguments are appended to the file, as xl does (a bare word value is quoted).
        text += '\n' + extra.map((s) => { const [k, ...v] = s.split('='); const val = v.join('='); return `${k} = ${/^[\["]/.test(val) ? val : JSON.stringify(val)}`; }).join('\n') + '\n';
        let cfg;
        try {
          cfg = parseXlCfgSettings(text, file ?? 'command line');
        } catch (e) {
          if (e instanceof XlCfgError) throw new XlError(`Failed to parse config file: ${e.message}`);
          throw e;
        }
        const str = (k: string) => { const v = cfg.settings.get(k)?.value; return v?.kind === 'string' ? v.text : undefined; };
        const name = str('name') ?? (file ? file.replace(/^.*\//, '') : undefined);
        if (!name) throw new XlError('Missing cpupool name!');
        const info = check(await p.request('info', {}), 'cpupool-create').info!;
        const sched = str('sched') ?? info.scheduler;
        const cpusVal = cfg.settings.get('cpus')?.value;
        const cpuText = cpusVal === undefined ? '' : cpusVal.kind === 'list' ? cpusVal.items.map((i) => (i.kind === 'string' ? i.text : '')).join(',') : cpusVal.text;
        let cpus: number[] = [];
        if (cpuText !== '') {
          const parsed = parseCpuList(cpuText);
          if (typeof parsed === 'string') throw new XlError(`cpus "${cpuText}": ${parsed}`);
          cpus = parsed === null ? Array.from({ length: info.nrCpus }, (_, i) => i) : [...parsed];
        }
        out(`Using config file "${file ?? 'command line'}"\ncpupool name:   ${name}\nscheduler:      ${sched}\nnumber of cpus: ${cpus.length}\n`);
        if (opts.dryrun) return;
        const r = await p.request('cpupool', { op: 'create', pool: name, scheduler: sched, cpus });
        if (r.rc !== 0) throw new XlError(`${r.error || `error ${r.rc}`}\nerror on creating cpupool`);
      }),
    );

  xl.command('cpupool-cpu-remove')
    .description('take pCPUs out of a cpupool (they become free for cpupool-create)')
    .argument('<pool>', 'cpupool name')
    .argument('<cpus>', 'pCPUs: "3", "2-3", "1,3"')
    .action(
      withPeer(async (p, pool: string, cpuText: string) => {
        const parsed = parseCpuList(cpuText);
        if (typeof parsed === 'string' || parsed === null) throw new XlError(`cpus "${cpuText}": ${typeof parsed === 'string' ? parsed : 'name the pCPUs'}`);
        check(await p.request('cpupool', { op: 'cpu-remove', pool, cpus: [...parsed] }), 'cpupool-cpu-remove');
      }),
    );

  xl.command('cpupool-migrate')
    .description('move a domain to another cpupool (xl cpupool-migrate)')
    .argument('<domain>', 'domain name or id')
    .argument('<pool>', 'cpupool name')
    .action(
      withPeer(async (p, dom: string, pool: string) => {
        check(await p.request('cpupool', { op: 'migrate', pool, domain: ref(dom) }), 'cpupool-migrate');
      }),
    );

  xl.command('hvm-stats')
    .description("HVM domains' exits to the hypervisor by reason: counts and the virtual time charged (pvsim's own)")
    .argument('[domain]', 'domain name or id (default: every HVM domain)')
    .option('--json', 'print JSON')
    .action(
      withPeer(async (p, dom: string | undefined, opts: { json?: boolean }) => {
        const r = check(await p.request('hvmStats', dom ? ref(dom) : {}), 'hvm-stats');
        const doms = r.hvmStats?.domains ?? [];
        if (opts.json) {
          out(`${JSON.stringify(doms.map((d) => ({ domid: d.domid, name: d.name, mode: d.mode, shadow_sync: d.shadowSync, exits: Object.fromEntries(d.exits.map((e) => [e.reason, { count: e.count, ns: e.ns }])) })), null, 2)}\n`);
          return;
        }
        const lines: string[] = [];
        for (const d of doms) {
          lines.push(`${d.name} (${d.domid}): hvm_mode ${d.mode}, shadow_sync ${d.shadowSync}`);
          for (const e of d.exits) lines.push(`  ${e.reason.padEnd(14)}${String(e.count).padStart(12)}${(e.ns / 1e6).toFixed(3).padStart(14)} ms`);
        }
        out(lines.length ? `${lines.join('\n')}\n` : 'no HVM domains\n');
      }),
    );

  xl.command('sched-credit')
    .description('show or set credit scheduler weight and cap (xl sched-credit)')
    .option('-d, --domain <domain>', 'domain name or id')
    .option('-w, --weight <n>', 'new weight (1-65535)', intArg('--weight'))
    .option('-c, --cap <n>', 'new cap, percent of one pCPU (0 = none)', intArg('--cap'))
    .action(
      withPeer(async (p, opts: { domain?: string; weight?: number; cap?: number }) => {
        const setting = opts.weight !== undefined || opts.cap !== undefined;
        if (setting && !opts.domain) throw new XlError('sched-credit: -w/-c need -d <domain>');
        const doms = opts.domain ? [ref(opts.domain)] : (check(await p.request('listDomains', {}), 'list').domains?.domains ?? []).map((d) => ({ domid: d.domid }));
        const infos = await askSched(p, doms, !!opts.domain, 'sched-credit', (d) => ({ domain: d, scheduler: 'credit', set: setting, weight: opts.weight ?? 0, cap: opts.cap ?? 0xffff }));
        const rows = infos.map((r) => ({ name: r.domain, domid: r.domid, weight: r.weight, cap: r.cap }));
        // The pool line as the scheduler reports it (a ratelimit set at boot or by -s).
        const poolOf = (name: string) => {
          const r = infos.find((x) => (x.cpupool || 'Pool-0') === name && x.tsliceMs);
          return { ...DEFAULT_CREDIT_POOL, name, ...(r ? { tsliceMs: r.tsliceMs!, ratelimitUs: r.ratelimitUs ?? DEFAULT_CREDIT_POOL.ratelimitUs } : {}) };
        };
        if (!setting) for (const [name, group] of byPool(infos, rows)) out(formatSchedCredit(group, poolOf(name)));
      }),
    );

  xl.command('sched-credit2')
    .description('show or set credit2 scheduler weight and cap, or (-s) the pool-wide ratelimit (xl sched-credit2)')
    .option('-d, --domain <domain>', 'domain name or id')
    .option('-w, --weight <n>', 'new weight (1-65535)', intArg('--weight'))
    .option('-c, --cap <n>', 'new cap, percent of one pCPU (0 = none)', intArg('--cap'))
    .option('-s, --schedparam', 'show or set the pool-wide parameters')
    .option('-r, --ratelimit_us <us>', 'with -s: new ratelimit in microseconds (0 = off)', intArg('--ratelimit_us'))
    .action(
      withPeer(async (p, opts: { domain?: string; weight?: number; cap?: number; schedparam?: boolean; ratelimit_us?: number }) => {
        if (opts.ratelimit_us !== undefined && !opts.schedparam) throw new XlError('sched-credit2: -r needs -s');
        if (opts.schedparam) {
          if (opts.domain || opts.weight !== undefined || opts.cap !== undefined) throw new XlError('sched-credit2: -s does not take -d, -w or -c');
          const any = (check(await p.request('listDomains', {}), 'list').domains?.domains ?? [])[0];
          if (!any) throw new XlError('sched-credit2: no domain to ask through');
          const set = opts.ratelimit_us !== undefined;
          const r = check(await p.request('schedCredit', { domain: { domid: any.domid }, scheduler: 'credit2', set, schedparam: true, ratelimitUs: opts.ratelimit_us ?? -1, weight: 0, cap: 0xffff }), 'sched-credit2');
          if (!set) out(`Cpupool Pool-0: ratelimit=${r.schedCredit!.ratelimitUs ?? 0}us\n`);
          return;
        }
        const setting = opts.weight !== undefined || opts.cap !== undefined;
        if (setting && !opts.domain) throw new XlError('sched-credit2: -w/-c need -d <domain>');
        const doms = opts.domain ? [ref(opts.domain)] : (check(await p.request('listDomains', {}), 'list').domains?.domains ?? []).map((d) => ({ domid: d.domid }));
        const infos = await askSched(p, doms, !!opts.domain, 'sched-credit2', (d) => ({ domain: d, scheduler: 'credit2', set: setting, weight: opts.weight ?? 0, cap: opts.cap ?? 0xffff }));
        const rows = infos.map((r) => ({ name: r.domain, domid: r.domid, weight: r.weight, cap: r.cap }));
        const ratelimitOf = (name: string) => infos.find((x) => (x.cpupool || 'Pool-0') === name)?.ratelimitUs ?? 0;
        if (!setting) for (const [name, group] of byPool(infos, rows)) out(formatSchedCredit2(group, { name, ratelimitUs: ratelimitOf(name) }));
      }),
    );

  xl.command('sched-rtds')
    .description("show or set RTDS period, budget and extratime of a domain's vCPUs (xl sched-rtds)")
    .option('-d, --domain <domain>', 'domain name or id')
    .option('-v, --vcpuid <id|all>', 'a vCPU (repeatable) or all; shows one row per vCPU', (v: string, prev: string[] = []) => [...prev, v])
    .option('-p, --period <us>', 'new period in microseconds', intArg('--period'))
    .option('-b, --budget <us>', 'new budget in microseconds', intArg('--budget'))
    .option('-e, --extratime <0|1>', 'may it run in time nobody reserved', intArg('--extratime'))
    .action(
      withPeer(async (p, opts: { domain?: string; vcpuid?: string[]; period?: number; budget?: number; extratime?: number }) => {
        const setting = opts.period !== undefined || opts.budget !== undefined || opts.extratime !== undefined;
        if (setting && !opts.domain) throw new XlError('sched-rtds: -p/-b/-e need -d <domain>');
        if (opts.extratime !== undefined && opts.extratime !== 0 && opts.extratime !== 1) throw new XlError('sched-rtds: -e takes 0 or 1');
        for (const [k, v] of [['-p', opts.period], ['-b', opts.budget]] as const) if (v !== undefined && v < 1) throw new XlError(`sched-rtds: ${k} must be a positive number of microseconds`);
        const all = opts.vcpuid?.includes('all') ?? false;
        const vcpus: number[] = [];
        for (const v of opts.vcpuid ?? []) {
          if (v === 'all') continue;
          if (!/^\d+$/.test(v)) throw new XlError(`sched-rtds: -v takes a vCPU number or all, got "${v}"`);
          vcpus.push(Number(v));
        }
        const perVcpu = opts.vcpuid !== undefined;
        const doms = opts.domain ? [ref(opts.domain)] : (check(await p.request('listDomains', {}), 'list').domains?.domains ?? []).map((d) => ({ domid: d.domid }));
        const infos = await askSched(p, doms, !!opts.domain, 'sched-rtds', (d) => ({
          domain: d,
          scheduler: 'rtds',
          set: setting,
          vcpus: all ? [] : vcpus,
          perVcpu,
          period: opts.period ?? 0,
          budget: opts.budget ?? 0,
          extratime: opts.extratime === undefined ? 0 : opts.extratime + 1,
          weight: 0,
          cap: 0xffff,
        }));
        const rowsOf = (r: (typeof infos)[number]): SchedRtdsRow[] => {
          const vs = r.vcpus ?? [];
          if (perVcpu) return vs.map((v) => ({ name: r.domain, domid: r.domid, vcpu: v.vcpu, periodUs: v.period, budgetUs: v.budget, extratime: v.extratime }));
          return vs[0] ? [{ name: r.domain, domid: r.domid, periodUs: vs[0].period, budgetUs: vs[0].budget, extratime: vs[0].extratime }] : [];
        };
        if (!setting) for (const [name, group] of byPool(infos, infos.map(rowsOf))) out(formatSchedRtds(group.flat(), name, perVcpu));
      }),
    );

  xl.command('info')
    .description('host information (xl info)')
    .action(
      withPeer(async (p) => {
        const i = check(await p.request('info', {}), 'info').info!;
        out(
          formatInfo({
            host: 'pvsim',
            release: 'pvsim',
            version: 'pvsim',
            machine: 'riscv32',
            nrCpus: i.nrCpus,
            maxCpuId: i.nrCpus - 1,
            nrNodes: 1,
            coresPerSocket: i.nrCpus,
            threadsPerCore: 1,
            cpuKhz: 1_000_000,
            virtCaps: ['pv', 'gnttab-v1'],
            pageSize: PAGE_SIZE,
            totalPages: i.totalPages,
            freePages: i.freePages,
            freeCpus: 0,
            xenMajor: i.xenMajor,
            xenMinor: i.xenMinor,
            xenExtra: i.xenExtra,
            xenCaps: i.xenCaps,
            xenScheduler: i.scheduler,
            xenCommandline: i.commandline,
            ccCompiler: 'node',
            ccCompileBy: 'pvsim',
            ccCompileDomain: '',
            ccCompileDate: '',
          }),
        );
      }),
    );

  // Declared before the command that calls it; -V answers without a running pvsim.
  const top = withPeer(async (p, o: TopCliOptions) => {
    try {
      const opts = { delay: o.delay, batch: !!o.batch, iterations: o.iterations, vcpus: !!o.vcpus, networks: !!o.networks, vbds: !!o.vbds, repeatHeader: !!o.repeatHeader, fullName: !!o.fullName, dom0First: !!o.dom0First };
      await xlTop(p, opts, out);
    } catch (e) {
      if (e instanceof TopError) throw new XlError(`top: ${e.message}`);
      throw e;
    }
  });
  xl.command('top')
    .description('xentop: CPU, memory, vCPUs, network and block counters per domain, refreshed; full screen on a terminal (keys D N B V R S Q as xentop), -b for scripts')
    .option('-d, --delay <seconds>', 'seconds between updates (default 3; off a terminal without -b, the one frame is measured over 1)', numArg('--delay', 0, 3600))
    .option('-n, --networks', 'output vif network data')
    .option('-x, --vbds', 'output vbd block device data')
    .option('-r, --repeat-header', 'repeat table header before each domain')
    .option('-v, --vcpus', 'output vcpu data')
    .option('-b, --batch', 'output in batch mode, no user input accepted')
    .option('-i, --iterations <n>', 'number of iterations before exiting', intArg('--iterations'))
    .option('-f, --full-name', 'output the full domain name (not truncated)')
    .option('-z, --dom0-first', 'display dom0 first (ignore sorting)')
    .option('-V, --version', 'output version information and exit')
    .action(async (o: TopCliOptions) => {
      if (o.version) return out(`xentop ${XENTOP_VERSION} (pvsim xl top)\n`);
      await top(o);
    });

  xl.command('dmesg')
    .description("the hypervisor's log (xl dmesg)")
    .action(withPeer(async (p) => out((check(await p.request('dmesg', {}), 'dmesg').lines?.lines ?? []).join('\n') + '\n')));

  xl.command('console')
    .description("print a domain's console output and follow it until it shuts down (Ctrl-] or Ctrl-C detaches)")
    .argument('<domain>', 'domain name or id')
    .action(
      withPeer(async (p, dom: string) => {
        let offset = 0;
        let detached = false;
        const stdin = process.stdin;
        // Keys go to the guest's console ring; Ctrl-] detaches (as xl console). One chunk
        // at a time: stdin is not read until dom0 has queued the last one, so a guest that
        // does not read its input blocks whoever writes to us, as with xenconsoled's pty.
        const send = async (all: Uint8Array) => {
          // dom0 takes at most CONSOLE_INPUT_BYTES a request.
          for (let off = 0; off < all.length && !detached; off += CONSOLE_INPUT_BYTES) {
            const data = all.subarray(off, off + CONSOLE_INPUT_BYTES);
            for (;;) {
              const r = await p.request('consoleInput', { domain: ref(dom), data }, 0x7fffffff).catch(() => null);
              if (!r || detached) return;
              if (r.rc === 0) break;
              if (r.rc !== -11) return; // -11: another writer waits: try again
              await new Promise((res) => setTimeout(res, 50));
            }
          }
        };
        const onKey = (b: Buffer) => {
          const cut = b.indexOf(0x1d);
          const data = cut >= 0 ? b.subarray(0, cut) : b;
          if (cut >= 0) detached = true;
          if (data.length) {
            stdin.pause();
            void send(new Uint8Array(data)).then(() => {
              if (!detached) stdin.resume();
            });
          }
        };
        if (stdin.isTTY) stdin.setRawMode(true);
        stdin.on('data', onKey);
        try {
          while (!detached) {
            const r = check(await p.request('consoleRead', { domain: ref(dom), offset }), `console ${dom}`);
            if (r.console?.length) {
              process.stdout.write(r.console);
              offset += r.console.length;
            }
            const d = check(await p.request('listDomains', {}), 'list').domains?.domains.find((x) => x.name === dom || String(x.domid) === dom);
            if (!d || d.flags & XEN_DOMINF.shutdown) {
              // Whatever the guest wrote last.
              const last = await p.request('consoleRead', { domain: ref(dom), offset });
              if (last.console?.length) process.stdout.write(last.console);
              break;
            }
            await new Promise((res) => setTimeout(res, 50));
          }
        } finally {
          detached = true; // a chunk still in flight does not resume stdin
          stdin.off('data', onKey);
          if (stdin.isTTY) stdin.setRawMode(false);
          stdin.pause();
        }
      }),
    );
  return xl;
}

export async function xlCommand(argv: string[]): Promise<number> {
  const xl = xlProgram((s) => process.stdout.write(s));
  xl.exitOverride();
  try {
    await xl.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof XlError || e instanceof XlCfgError || e instanceof NotRunningError) {
      process.stderr.write(`xl: ${e.message}\n`);
      return 1;
    }
    const ce = e as { code?: string; exitCode?: number; message?: string };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) return ce.exitCode === 0 ? 0 : 2;
    process.stderr.write(`xl: ${(e as Error).message}\n`);
    return 1;
  }
}
