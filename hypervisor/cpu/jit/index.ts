// The block translator (issue 17). Placeholder seam so the engine switch and the differential
// tests can be built in parallel with the translator itself: until the translator lands this
// class runs the interpreter unchanged.
import { Interpreter } from '../interpreter.ts';

export class Translator extends Interpreter {}
