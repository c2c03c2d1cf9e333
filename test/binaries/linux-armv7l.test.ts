import { describeBinary } from './binary-suite.js';

describeBinary('linux-armv7l');
