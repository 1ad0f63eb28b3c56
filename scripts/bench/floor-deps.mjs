// The second process of the dependency floor (see ./floor-parent.mjs): the daemon's
// dependencies and the Node modules it needs to answer a call, then one byte.
import 'node:crypto';
import 'node:net';
import 'msgpackr/pack';
import 'p-queue';
import 'xstate';

process.stdout.write('x');
