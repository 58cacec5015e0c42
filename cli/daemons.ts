// `pvsim hypervisor` and `pvsim dom0`: each side in the foreground. Each prints its
// endpoint as KEY=VALUE lines on stdout once ready, and stops cleanly on SIGINT/SIGTERM.

// The two sides share no code at run time: the hypervisor's modules (and the scenario
// runner above them) are loaded only by `pvsim hypervisor`, dom0's only by `pvsim dom0`.
import type { EngineKind } from '../hypervisor/cpu/engines.ts';
import { consoleLineWriter } from './console_lines.ts';
import { readToken } from './runtime.ts';
import { dirname } from 'node:path';
import type { SchedulerName } from '../hypervisor/hypervisor.ts';

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    void stop().finally(() => process.exit(0));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  // Started by `pvsim up`: when its end of our stdin closes (it exited, even by kill -9),
  // stop too rather than live on as an orphan.
  if (process.env.PVSIM_EXIT_WITH_STDIN === '1') {
    if (process.stdin.readableEnded) return handler(); // closed while we were starting
    process.stdin.on('end', handler);
    process.stdin.on('error', handler);
    process.stdin.resume();
  }
}

export interface HypervisorCliOptions {
  tokenFile: string;
  /** Run this scenario deterministically once dom0 has connected, print its report, exit. */
  scenario?: string;
  seed?: number;
  until?: string;
  json?: boolean;
  html?: string;
  trace?: string;
  port?: number;
  pcpus: number;
  scheduler: SchedulerName;
  memory: number;
  speed?: number;
  /** With --scenario: progress lines on stderr. */
  progress?: boolean;
  /** With --scenario: guests' console output on stderr, each line prefixed with its domain's name. */
  console?: boolean;
  /** --cpu: the engine for every domain (over a domain's cpu_engine and a scenario's cpu). */
  cpu?: EngineKind;
}

export async function hypervisorCommand(o: HypervisorCliOptions): Promise<void> {
  const token = process.env.PVSIM_HV_TOKEN ?? readToken(o.tokenFile);
  if (o.scenario) {
    const code = await scenarioHypervisor(o, token);
    // Done: leave now (stdin watching and sockets would keep the process alive).
    process.stdout.write('', () => process.exit(code));
    return;
  }
  const { HypervisorServer } = await import('../hypervisor/server/server.ts');
  const server = new HypervisorServer({ token, port: o.port, pcpus: o.pcpus, scheduler: o.scheduler, machineMemoryBytes: o.memory * 1024 * 1024, speed: o.speed, ...(o.cpu ? { cpu: o.cpu, forceCpu: true } : {}) });
  const h = await server.start();
  onSignals(h.close);
  process.stdout.write(`PVSIM_HYPERVISOR_URL=${h.url}\n`);
}

/** The hypervisor half of `pvsim run` with dom0 in its own process. */
async function scenarioHypervisor(o: HypervisorCliOptions, token: string): Promise<number> {
  const { HypervisorServer } = await import('../hypervisor/server/server.ts');
  const { loadScenario, ScenarioError } = await import('../sim/scenario/schema.ts');
  const { runScenarioOn, scenarioMachine } = await import('../sim/scenario/runner.ts');
  const { parseDuration } = await import('../sim/scenario/duration.ts');
  const { writeReport } = await import('./run.ts');
  let scenario;
  try {
    scenario = loadScenario(o.scenario!);
  } catch (e) {
    process.stderr.write(`pvsim run: ${(e as Error).message}\n`);
    return 2;
  }
  const server = new HypervisorServer({ token, port: o.port, manual: true, ...scenarioMachine(scenario, o.cpu) });
  const h = await server.start();
  onSignals(h.close);
  process.stdout.write(`PVSIM_HYPERVISOR_URL=${h.url}\n`);
  try {
    await server.waitForDom0();
    const result = await runScenarioOn(server.hv, scenario, {
      baseDir: dirname(o.scenario!),
      seed: o.seed,
      until: o.until === undefined ? undefined : parseDuration(o.until),
      progress: o.progress ? (l) => process.stderr.write(`${l}\n`) : undefined,
      traceDetail: o.trace !== undefined,
      onConsole: o.console ? consoleLineWriter((t) => process.stderr.write(t)) : undefined,
    });
    return (await writeReport(result, o)) ? 1 : 0;
  } catch (e) {
    process.stderr.write(`pvsim run: ${(e as Error).message}\n`);
    return e instanceof ScenarioError ? 2 : 1;
  } finally {
    await h.close();
  }
}

export interface Dom0CliOptions {
  hypervisor: string;
  hypervisorTokenFile: string;
  clientTokenFile: string;
  xenstoredPath: string;
  port?: number;
  stateFile?: string;
  /** Capture every frame crossing dom0's bridges to this pcap file. */
  pcap?: string;
}

/** Longest first line accepted on stdin for `--hypervisor -`: a ws URL is far shorter. */
const MAX_URL_LINE = 4096;

/** The first line of stdin, for `--hypervisor -` (`pvsim up` writes it once the hypervisor listens). */
function firstStdinLine(): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = () => {
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
    };
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        done();
        resolve(buf.slice(0, nl).trim());
      } else if (buf.length > MAX_URL_LINE) {
        done();
        reject(new Error(`--hypervisor -: no line end within ${MAX_URL_LINE} bytes of stdin`));
      }
    };
    const onEnd = () => {
      done();
      reject(new Error("--hypervisor -: stdin closed before the hypervisor's URL arrived"));
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', onEnd);
  });
}

export async function dom0Command(o: Dom0CliOptions): Promise<void> {
  // dom0's modules load while the hypervisor (started beside us) is still coming up.
  const dom0Module = import('../dom0/dom0.ts');
  let hypervisorUrl = o.hypervisor;
  if (hypervisorUrl === '-') {
    try {
      hypervisorUrl = await firstStdinLine();
    } catch (e) {
      process.stderr.write(`pvsim dom0: ${(e as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
  }
  const { startDom0 } = await dom0Module;
  const d = await startDom0({
    hypervisorUrl,
    hypervisorToken: readToken(o.hypervisorTokenFile),
    clientToken: readToken(o.clientTokenFile),
    xenstoredPath: o.xenstoredPath,
    port: o.port,
    stateFile: o.stateFile,
    pcap: o.pcap,
    log: (l) => process.stderr.write(l + '\n'),
  });
  onSignals(d.close);
  void d.lost.then(async (why) => {
    // The hypervisor stopping in order (code 1001) is the end of a run, not a failure.
    const orderly = why.includes('(1001') || why.includes('dom0 stopping');
    if (!orderly) process.stderr.write(`pvsim dom0: lost the hypervisor: ${why}\n`);
    await d.close();
    process.exit(orderly ? 0 : 1);
  });
  process.stdout.write(`PVSIM_URL=${d.url}\nXENSTORED_PATH=${d.xenstoredPath}\n`);
}
