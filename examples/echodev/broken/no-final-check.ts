// A deliberately broken echoif backend: no-final-check (see bugs.ts). `pvsim ringtest backend|faults|explore` catch it.
import { echoWithBug, protocolFor } from './bugs.ts';

export default echoWithBug('no-final-check');
export const protocol = protocolFor('no-final-check');
