import { describeBinary } from './binary-suite.js';

describeBinary('linux-x64');
