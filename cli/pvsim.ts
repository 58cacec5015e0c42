// The `pvsim` command line. Each subcommand lives in its own module; this file only wires
// them to commander (which gives every subcommand --help). A subcommand's module is loaded
// when it runs, so a process loads only its own side: `pvsim dom0` never loads the
// hypervisor (interpreter, frame table), nor `pvsim xl` either.

import { Command, InvalidArgumentError } from 'commander';
import { machineMemoryMiB, outputFile, positiveInt, cpuOption } from './args.ts';
import { RunDirError } from './runtime.ts';
import { DEFAULT_SCHEDULER, SCHEDULER_NAMES, type SchedulerName } from '../hypervisor/sched/options.ts';
import type { EngineKind } from '../hypervisor/cpu/engines.ts';

const program = new Command();
program
  .name('pvsim')
  .description('A simulator of a Xen-style paravirtualizing hypervisor running RV32 guests')
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program
  .command('run-bare')
  .description('run an RV32 ELF on a bare machine in M-mode (RAM at 0x80000000, 16550 UART at 0x10000000, HTIF tohost)')
  .argument('<elf>', 'RV32 executable')
  .option('--max-instructions <n>', 'give up after this many instructions', positiveInt('--max-instructions'), 1_000_000_000)
  .option('--ram <MiB>', 'RAM size in MiB', positiveInt('--ram'), 64)
  .option('-q, --quiet', 'print nothing on pass')
  .option('--hext', 'implement the RISC-V H extension (misa.H), as QEMU -cpu rv32,h=true')
  .option('--progress', 'show progress on stderr; the default when stderr is a terminal')
  .option('--no-progress', 'no progress, even on a terminal')
  .addOption(cpuOption())
  .addHelpText(
    'after',
    '\nExit status: 0 pass (tohost=1), 1 fail (tohost odd > 1; test number = tohost >> 1),\n' +
      '2 --max-instructions reached, 3 stuck in wfi, 4 unreadable or invalid ELF.',
  )
  .action(async (elf: string, opts: { maxInstructions: number; ram: number; quiet?: boolean; hext?: boolean; progress?: boolean; cpu?: EngineKind }) => {
    const { runBareCommand } = await import('./run_bare.ts');
    process.exitCode = runBareCommand(elf, opts);
  });

program
  .command('run-native')
  .description('run an unmodified kernel on the board with no hypervisor (M-mode SBI firmware, the HVM board\'s devices): pvsim compare\'s native baseline')
  .argument('<kernel>', 'kernel ELF for the virt board, e.g. guests/build/native.elf')
  .option('--cmdline <text>', 'kernel command line (/chosen/bootargs)', '')
  .option('--memory <MiB>', 'RAM in MiB', positiveInt('--memory'), 16)
  .option('--disk <spec>', 'an emulated disk: path[,devtype=virtio|legacy][,ro] (repeatable; created sparse if absent)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--firmware <elf>', 'M-mode firmware (default guests/build/sbi.elf)')
  .option('--max-instructions <n>', 'give up after this many instructions', positiveInt('--max-instructions'), 2_000_000_000)
  .option('--max-ms <ms>', 'give up at this virtual time (ms)', positiveInt('--max-ms'), 60_000)
  .option('--json', 'print the result (exit, console, virtual ns, counters) as JSON instead of the console')
  .option('--progress', 'show progress on stderr; the default when stderr is a terminal')
  .option('--no-progress', 'no progress, even on a terminal')
  .addOption(cpuOption())
  .addHelpText('after', '\nExit status: 0 poweroff, 1 crash (SRST system failure), 2 a limit reached, 3 reset, 4 bad input.')
  .action(async (kernel: string, opts: { cmdline: string; memory: number; disk: string[]; firmware?: string; maxInstructions: number; maxMs: number; json?: boolean; progress?: boolean; cpu?: EngineKind }) => {
    const { runNativeCommand } = await import('./run_native.ts');
    process.exitCode = await runNativeCommand(kernel, opts);
  });

program
  .command('boot')
  .description('boot one guest kernel (PV, or an unmodified one with --type hvm) in-process and print its console output')
  .argument('<image>', 'kernel ELF: PV (with Xen ELF notes), e.g. guests/build/hello.elf, or with --type hvm an unmodified one, e.g. guests/build/native.elf')
  .option('--cmdline <text>', 'guest command line (start_info.cmd_line)', '')
  .option('--memory <MiB>', 'guest memory in MiB', positiveInt('--memory'), 16)
  .option('--name <name>', 'domain name', 'guest')
  .option('--max-instructions <n>', 'stop after this many guest instructions', positiveInt('--max-instructions'), 2_000_000_000)
  .option('--dmesg', 'print the hypervisor log to stderr at the end')
  .option('--type <type>', 'pv, or hvm for an unmodified kernel on the HVM board (trap-and-emulate)', 'pv')
  .option('--shadow-sync <policy>', 'hvm: wp or lazy shadow page tables', 'wp')
  .option('--progress', 'show progress on stderr; the default when stderr is a terminal')
  .option('--no-progress', 'no progress, even on a terminal')
  .addHelpText(
    'after',
    "\nExit status: Xen's shutdown reason code (0 poweroff, 1 reboot, 2 suspend, 3 crash, 4 watchdog),\n" +
      '124 if --max-instructions was reached, 125 for an unreadable or invalid image, 126 if the domain\n' +
      'blocked with nothing left that could wake it.',
  )
  .action(async (image: string, opts: { cmdline: string; memory: number; name: string; maxInstructions: number; dmesg?: boolean; type: string; shadowSync: string; progress?: boolean }) => {
    const { bootCommand } = await import('./boot.ts');
    process.exitCode = await bootCommand(image, opts);
  });

program
  .command('run')
  .description('run a scenario: many domains, several pCPUs, a scheduler, deterministic virtual time')
  .argument('<scenario>', 'scenario file (JSON; see docs/scenarios.md and examples/)')
  .option('--seed <n>', 'seed for start jitter and guest randomness (default: the scenario\'s)', (v) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--seed must be a non-negative integer, got "${v}"`);
    return Number(v);
  })
  .option('--until <time>', 'virtual time to run for, e.g. 10s, 250ms (default: the scenario\'s)')
  .option('--trace <file>', 'write the trace: .jsonl for JSON lines, anything else Chrome trace-event JSON for ui.perfetto.dev (docs/trace.md; `pvsim trace summary FILE` reads either)')
  .option('--json', 'print the report as JSON')
  .option('--html <file>', 'also write the report as one self-contained HTML page with charts (CPU share over time, latency CDFs, fairness, utilisation)', outputFile('--html'))
  .option('--console', 'copy guest console output to stderr')
  .option('--realtime', 'pace virtual time to wall time (interactive; not deterministic; dom0 in-process)')
  .option('--in-process', "run dom0's daemons in this process instead of as a child process")
  .option('--progress', 'show progress on stderr (virtual time reached, rate); the default when stderr is a terminal')
  .option('--no-progress', 'no progress lines, even on a terminal')
  .addOption(cpuOption(true))
  .option('--pcap <file>', 'capture every frame crossing dom0\'s bridges to this pcap file (virtual-time stamps)', outputFile('--pcap'))
  .option('--speed <x>', 'with --realtime: virtual seconds per wall second', (v) => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError(`--speed must be a positive number, got "${v}"`);
    return n;
  })
  .addHelpText('after', '\nThe last line of the table is `trace-hash: <hex>`: the same scenario and seed give the same hash.\nExit status: 0 after a run; 2 for a bad scenario file or option, a scenario larger than the machine, or a domain dom0 could not serve (a failed bind or dispatch, named on stderr).')
  .action(async (file: string, opts: { seed?: number; until?: string; trace?: string; json?: boolean; console?: boolean; realtime?: boolean; speed?: number; inProcess?: boolean; pcap?: string; progress?: boolean; html?: string; cpu?: EngineKind }) => {
    const { runCommand } = await import('./run.ts');
    process.exitCode = await runCommand(file, opts);
  });

const schedulerOption = (v: string) => {
  if (!(SCHEDULER_NAMES as readonly string[]).includes(v)) throw new InvalidArgumentError(`--scheduler must be one of ${SCHEDULER_NAMES.join(', ')}, got "${v}"`);
  return v;
};
const speedOption = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError(`--speed must be a positive number, got "${v}"`);
  return n;
};

program
  .command('demo')
  .description('the demo `npm start` runs: dom0 and two PV guests as processes; one writes, flushes and verifies its disk, both ping each other and stream UDP; ends with a xentop table and a short `pvsim compare`')
  .option('--pcap <file>', "capture the guests' traffic on dom0's bridge to this pcap file", outputFile('--pcap'))
  .option('--pings <n>', 'pings each guest sends', positiveInt('--pings'), 10)
  .option('--udp <n>', 'UDP datagrams (1 KiB) each guest streams', positiveInt('--udp'), 100)
  .option('--no-compare', 'skip the short `pvsim compare` the demo ends with')
  .action(async (opts: { pcap?: string; pings: number; udp: number; compare: boolean }) => {
    const { demoCommand } = await import('./demo.ts');
    process.exitCode = await demoCommand(opts);
  });

program
  .command('compare')
  .description('run workloads natively, as PV and as HVM (trap-and-emulate, hardware-assisted) in deterministic virtual time and compare them (docs/compare.md)')
  .argument('<workload...>', 'name[:key=value,...], e.g. syscall, pgfault:pages=32, blk:mode=rand,qd=32 (cpu syscall pt ctxsw pgfault timer blk net irq fork shell timerlat tlbwalk)')
  .option('--modes <list>', 'native,pv,hvm-trap,hvm-hw (default: all)')
  .option('--io <list>', 'I/O paths of I/O workloads: pv,virtio,legacy,pvhvm (default: all)')
  .option('--shadow <list>', 'hvm-trap shadow page-table policies: wp,lazy', 'wp')
  .option('--seed <n>', 'seed of every run (the same seed gives the same report)', '1')
  .option('--json <file>', 'write the full report as JSON', outputFile('--json'))
  .option('--html <file>', 'write the report as one self-contained HTML page', outputFile('--html'))
  .option('--vary <cost.KEY=V1,V2,...>', 'rerun with other cost-model values (hypervisor/time/cost_model.ts); repeatable', (v: string, prev: string[] = []) => [...prev, v])
  .option('--jobs <n>', 'worker processes (default: the number of cores)', positiveInt('--jobs'))
  .option('--timeout <s>', 'wall-clock bound of one run, in seconds', positiveInt('--timeout'), 600)
  .option('--progress', 'show progress on stderr; the default when stderr is a terminal')
  .option('--no-progress', 'no progress, even on a terminal')
  .addOption(cpuOption())
  .addHelpText('after', '\nExit status: 0 when every run that could run did and the checksums agree, 1 otherwise,\n2 for a bad workload, mode, I/O path or --vary (nothing runs, nothing is written).')
  .action(async (workloads: string[], opts: { modes?: string; io?: string; shadow?: string; seed?: string; json?: string; html?: string; vary?: string[]; jobs?: number; timeout?: number; progress?: boolean; cpu?: EngineKind }) => {
    const { compareCommand } = await import('./compare.ts');
    process.exitCode = await compareCommand(workloads, opts);
  });

program
  .command('compare-worker', { hidden: true })
  .description('a worker of `pvsim compare` (started by it, over an IPC channel)')
  .action(async () => {
    const { compareWorker } = await import('./compare_pool.ts');
    compareWorker();
  });

program
  .command('sweep')
  .description('run a scenario over every combination of varied values and seeds in parallel workers; CSV, JSON and HTML with one row per run and domain (docs/sweep.md)')
  .argument('[scenario]', 'scenario file (JSON; docs/scenarios.md); none with --collect')
  .option('--vary <KEY=V1,V2,...>', 'values of a scenario field: scheduler, pcpus, until, machineMemory, sample_interval, cpu, xen_cmdline.PARAM, domains.GROUP.FIELD (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
  .option('--seeds <list>', "seeds of every combination: N, A..B or A,B,C (default: the scenario's seed)")
  .option('--jobs <n>', 'worker processes (default: the number of cores)', positiveInt('--jobs'))
  .option('--timeout <s>', 'wall-clock bound of one run, in seconds', positiveInt('--timeout'), 600)
  .option('--csv <file>', 'write one row per run and domain as CSV', outputFile('--csv'))
  .option('--json <file>', 'write the sweep and every run as JSON', outputFile('--json'))
  .option('--html <file>', "write one self-contained HTML page: the figures against each varied key's values", outputFile('--html'))
  .option('--emit <form>', 'write the sweep as a batch job instead of running it: k8s (a Kubernetes Indexed Job, JSON on stdout)')
  .option('--image <name>', 'with --emit k8s: pvsim\'s container image', 'pvsim:latest')
  .option('--claim <name>', 'with --emit k8s: the PersistentVolumeClaim the results go to', 'pvsim-sweep-results')
  .option('--parallelism <n>', 'with --emit k8s: pods at once', positiveInt('--parallelism'), 8)
  .option('--job-name <name>', 'with --emit k8s: the Job\'s name (default: from the scenario and the sweep)')
  .option('--workdir <dir>', 'with --emit k8s: the container\'s working directory (where the scenario path resolves)')
  .option('--index <i>', 'run only run i of the sweep (what each pod of the Job does with $JOB_COMPLETION_INDEX)')
  .option('--out <dir>', 'with --index: the directory its result file goes to')
  .option('--collect <dir>', 'merge the result files of an --index sweep into the same CSV, JSON and HTML')
  .option('--progress', 'show progress on stderr; the default when stderr is a terminal')
  .option('--no-progress', 'no progress, even on a terminal')
  .addOption(cpuOption(true))
  .addHelpText('after', '\nExit status: 0 when every run ran, 1 when some failed (listed), 2 for a bad scenario, key, value or option (nothing runs).')
  .action(async (scenario: string | undefined, opts: import('./sweep.ts').SweepCliOptions) => {
    const { sweepCommand } = await import('./sweep.ts');
    process.exitCode = await sweepCommand(scenario, opts);
  });

program
  .command('sweep-worker', { hidden: true })
  .description('a worker of `pvsim sweep` (started by it, over an IPC channel)')
  .action(async () => {
    const { sweepWorker } = await import('./sweep_pool.ts');
    sweepWorker();
  });

program
  .command('up')
  .description('start the hypervisor and dom0 as child processes and stay in the foreground (Ctrl-C stops both)')
  .option('--pcpus <n>', 'simulated physical CPUs', positiveInt('--pcpus'), 2)
  .option('--scheduler <name>', `${SCHEDULER_NAMES.join(', ')} (Xen's default: credit2)`, schedulerOption, DEFAULT_SCHEDULER)
  .option('--memory <MiB>', 'machine memory in MiB', machineMemoryMiB('--memory'), 4096)
  .option('--speed <x>', 'virtual seconds per wall second', speedOption)
  .option('--pcap <file>', 'capture every frame crossing dom0\'s bridges to this pcap file (virtual-time stamps)', outputFile('--pcap'))
  .option('--web [port]', 'serve a live dashboard on 127.0.0.1 (any free port when none is given); prints PVSIM_WEB_URL=', webPortOption)
  .option('--web-interval <ms>', 'with --web: milliseconds between samples pushed to the page', positiveInt('--web-interval'), 1000)
  .addOption(cpuOption())
  .addHelpText('after', '\nPrints PVSIM_URL=, XENSTORED_PATH= and PVSIM_TOKEN_FILE= lines once ready; `pvsim xl` and\n`XENSTORED_PATH=... xenstore-ls` then work against it. With --web, PVSIM_WEB_URL= too: the\ndashboard\'s address, with the run\'s token after #token= (docs/dashboard.md).')
  .action(async (opts: { pcpus: number; scheduler: string; memory: number; speed?: number; pcap?: string; web?: number | true; webInterval: number; cpu?: EngineKind }) => {
    const { upCommand } = await import('./up.ts');
    process.exitCode = await upCommand(opts);
  });

/** --web's optional port: bare --web (true) means any free port. */
function webPortOption(v: string | boolean): number {
  if (v === true || v === '') return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535 || !/^\d+$/.test(String(v))) throw new InvalidArgumentError(`--web: a TCP port 0-65535, not ${JSON.stringify(v)}`);
  return n;
}

program
  .command('hypervisor')
  .description('run the hypervisor process in the foreground (normally started by `pvsim up`)')
  .requiredOption('--token-file <file>', 'file holding the token dom0 must present')
  .option('--port <n>', 'TCP port on 127.0.0.1 (default: any free port)', positiveInt('--port'))
  .option('--pcpus <n>', 'simulated physical CPUs', positiveInt('--pcpus'), 2)
  .option('--scheduler <name>', `${SCHEDULER_NAMES.join(', ')} (Xen's default: credit2)`, schedulerOption, DEFAULT_SCHEDULER)
  .option('--memory <MiB>', 'machine memory in MiB', machineMemoryMiB('--memory'), 4096)
  .option('--speed <x>', 'virtual seconds per wall second', speedOption)
  .option('--scenario <file>', 'run this scenario deterministically once dom0 connects, print the report, exit')
  .option('--seed <n>', 'with --scenario: the seed', (v) => Number(v))
  .option('--until <time>', 'with --scenario: virtual run time')
  .option('--trace <file>', 'with --scenario: write the trace')
  .option('--json', 'with --scenario: JSON report')
  .option('--progress', 'with --scenario: progress lines on stderr')
  .option('--console', "with --scenario: guests' console output on stderr")
  .option('--html <file>', 'with --scenario: also write the HTML report', outputFile('--html'))
  .addOption(cpuOption(true))
  .addHelpText('after', '\nPrints PVSIM_HYPERVISOR_URL=<ws url> once listening.')
  .action(async (opts: { tokenFile: string; port?: number; pcpus: number; scheduler: SchedulerName; memory: number; speed?: number; scenario?: string; seed?: number; until?: string; trace?: string; json?: boolean; progress?: boolean; html?: string; console?: boolean; cpu?: EngineKind }) => {
    const { hypervisorCommand } = await import('./daemons.ts');
    await hypervisorCommand(opts);
  });

program
  .command('dom0')
  .description('run the dom0 process (xenstored, toolstack) in the foreground (normally started by `pvsim up`)')
  .requiredOption('--hypervisor <url>', 'the hypervisor\'s ws URL, or - to read it from the first line of stdin (how `pvsim up` starts dom0 beside the hypervisor)')
  .requiredOption('--hypervisor-token-file <file>', 'token to present to the hypervisor')
  .requiredOption('--client-token-file <file>', 'token clients must present')
  .requiredOption('--xenstored-path <socket>', 'Unix socket for xenstored (XENSTORED_PATH)')
  .option('--port <n>', 'TCP port on 127.0.0.1 for clients (default: any free port)', positiveInt('--port'))
  .option('--state-file <file>', 'keep XenStore in this file; if it exists, start from it (a dom0 restart)')
  .option('--pcap <file>', 'capture every frame crossing the bridges to this pcap file', outputFile('--pcap'))
  .addHelpText('after', '\nPrints PVSIM_URL=<ws url> and XENSTORED_PATH=<socket> once ready.')
  .action(async (opts: { hypervisor: string; hypervisorTokenFile: string; clientTokenFile: string; xenstoredPath: string; port?: number; stateFile?: string; pcap?: string }) => {
    const { dom0Command } = await import('./daemons.ts');
    await dom0Command(opts);
  });

program
  .command('xl')
  .description("Xen's xl against a running pvsim: list, create, destroy, shutdown, reboot, pause, unpause, console, vcpu-list, sched-credit, info, dmesg")
  .allowUnknownOption()
  .helpOption(false)
  .argument('[args...]', 'xl command and its arguments (`pvsim xl help` lists them)')
  .action(async (args: string[]) => {
    const { xlCommand } = await import('./xl.ts');
    process.exitCode = await xlCommand(args.length ? args : ['help']);
  });

const trace = program.command('trace').description('read a trace `pvsim run --trace FILE` wrote (docs/trace.md)');
trace
  .command('summary')
  .description("xenalyze's summary: per domain and vCPU the time running, runnable, blocked (by reason) and offline, hypercalls and exits by number and name, wake-to-run latency percentiles")
  .argument('<file>', 'a trace: .jsonl or the Chrome/Perfetto JSON')
  .option('--json', 'print the summary as JSON')
  .addHelpText('after', '\nExit status: 0, or 2 for a file that cannot be read or is not a pvsim trace.')
  .action(async (file: string, opts: { json?: boolean }) => {
    const { traceSummaryCommand } = await import('./trace.ts');
    process.exitCode = traceSummaryCommand(file, opts);
  });

program
  .command('xenstore')
  .description("XenStore of a running pvsim through dom0's WebSocket: read, write, mkdir, rm, ls, get-perms, set-perms")
  .argument('<op>', 'read | write | mkdir | rm | ls | get-perms | set-perms')
  .argument('<path>', 'absolute path, e.g. /local/domain/1/name')
  .argument('[value...]', 'value for write; permissions (e.g. n0 r1) for set-perms')
  .action(async (op: string, path: string, value: string[]) => {
    const { xenstoreCommand } = await import('./xenstore.ts');
    process.exitCode = await xenstoreCommand(op, path, value);
  });

program
  .command('ringtest')
  .description('test a ring protocol: `blkif`, `netif`, `console`, `xenstore` run that protocol\'s conformance suite against pvsim\'s backend or --backend <module>; `backend` runs the ring cases against your backend module; `explore` searches the interleavings of a frontend and a backend (docs/ringkit.md)')
  .argument('<suite>', 'blkif | netif | console | xenstore (protocol suites) | backend (the ring conformance cases against --driver) | faults (the fault cases against --driver) | explore (interleavings of a frontend and the kit\'s model backend or --backend <module>)')
  .option('--driver <module>', 'backend, faults: the backend module (pvsim/driver; it exports `protocol`, a RingProtocol)')
  .option('--export <name>', 'backend: a named export of the module instead of its default')
  .option('--backend <variant>', 'explore: the kit\'s model backend: none (correct), no-final-check, no-recheck, publish-before-write, or the path of your backend module (pvsim/driver, exporting `protocol`); blkif|netif|console|xenstore: your backend module (none: pvsim\'s own)', 'none')
  .option('--frontend <image>', 'blkif, netif, console, xenstore: a PV kernel image whose frontend to test against a checking, then hostile, backend')
  .option('--cmdline <args>', 'with --frontend: the guest\'s command line (default: work=blk for blkif, work=net at 10.0.0.1 for netif, echo for console, none for xenstore)')
  .option('--case <name>', 'blkif|netif|console|xenstore|backend|faults: run only the case of this name (the replay of a failure)')
  .option('--requests <n>', 'explore: requests the frontend makes (default 2; 3 against a module)', positiveInt('--requests'))
  .option('--batch <n>', 'explore: requests per push (default 1; 2 against a module)', positiveInt('--batch'))
  .option('--seed <n>', 'seed of the random walks', positiveInt('--seed'), 1)
  .option('--walks <n>', 'random walks', positiveInt('--walks'), 2000)
  .option('--depth <n>', 'steps per schedule at most, for the systematic search', positiveInt('--depth'), 60)
  .option('--spurious <n>', 'fault: up to n spurious events per run, delivered at any step (f, b in a schedule)', positiveInt('--spurious'))
  .option('--lose-notify <n>', 'fault: lose the n-th notification (1-based)', positiveInt('--lose-notify'))
  .option('--replay <schedule>', 'run one schedule (F and B steps) again')
  .option('--junit <file>', 'also write the cases as JUnit XML', outputFile('--junit'))
  .option('--progress', 'show progress on stderr; the default when stderr is a terminal')
  .option('--no-progress', 'no progress, even on a terminal')
  .addHelpText('after', '\nExit status: 0 when every case passed, 1 when one failed, 2 for a bad option.')
  .action(async (suite: string, opts: { backend: string; requests?: number; batch?: number; seed: number; walks: number; depth: number; replay?: string; junit?: string; spurious?: number; loseNotify?: number; driver?: string; export?: string; frontend?: string; cmdline?: string; case?: string; progress?: boolean }) => {
    const { ringtestCommand, ringtestBackend, ringtestProtocol } = await import('./ringtest.ts');
    const protocols = ['blkif', 'netif', 'console', 'xenstore'];
    process.exitCode = suite === 'backend' || suite === 'faults' ? await ringtestBackend(opts, suite === 'faults') : protocols.includes(suite) ? await ringtestProtocol(suite, opts) : await ringtestCommand(suite, opts);
  });

program
  .command('sdk')
  .description('where the guest SDK (headers, library, Makefile rules) and the backend API (pvsim/driver) are, for a driver of your own (docs/ringkit.md)')
  .option('--makefile', 'print a Makefile fragment to include (PVSIM_ROOT and guests/sdk.mk)')
  .option('--makefile-path', "print only guests/sdk.mk's path: include $(shell pvsim sdk --makefile-path)")
  .option('--json', 'print the paths as JSON')
  .action(async (opts: { makefile?: boolean; makefilePath?: boolean; json?: boolean }) => {
    const { sdkCommand } = await import('./sdk.ts');
    process.exitCode = sdkCommand(opts);
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // A run directory pvsim will not use (someone else's, a symlink, a wrong mode) is the
  // user's to fix: say so plainly, no stack.
  if (!(e instanceof RunDirError)) throw e;
  process.stderr.write(`pvsim: ${e.message}\n`);
  process.exitCode = 1;
}
