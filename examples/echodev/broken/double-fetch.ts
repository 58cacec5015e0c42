// A deliberately broken echoif backend: double-fetch (see bugs.ts). `pvsim ringtest backend|faults|explore` catch it.
import { echoWithBug, protocolFor } from './bugs.ts';

export default echoWithBug('double-fetch');
export const protocol = protocolFor('double-fetch');
