// A deliberately broken echoif backend: rsp-overflow (see bugs.ts). `pvsim ringtest backend|faults|explore` catch it.
import { echoWithBug, protocolFor } from './bugs.ts';

export default echoWithBug('rsp-overflow');
export const protocol = protocolFor('rsp-overflow');
