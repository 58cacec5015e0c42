// A deliberately broken echoif backend: no-recheck (see bugs.ts). `pvsim ringtest backend|faults|explore` catch it.
import { echoWithBug, protocolFor } from './bugs.ts';

export default echoWithBug('no-recheck');
export const protocol = protocolFor('no-recheck');
