// A deliberately broken echoif backend: publish-before-write (see bugs.ts). `pvsim ringtest backend|faults|explore` catch it.
import { echoWithBug, protocolFor } from './bugs.ts';

export default echoWithBug('publish-before-write');
export const protocol = protocolFor('publish-before-write');
