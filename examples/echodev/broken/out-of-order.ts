// A deliberately broken echoif backend: out-of-order (see bugs.ts). `pvsim ringtest backend|faults|explore` catch it.
import { echoWithBug, protocolFor } from './bugs.ts';

export default echoWithBug('out-of-order');
export const protocol = protocolFor('out-of-order');
