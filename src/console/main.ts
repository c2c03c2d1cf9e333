import { ConsoleApp } from './console-app.js';
import './console.css';

/** The bundle's entry: start the console once the page's markup is there. */
void new ConsoleApp().start();
