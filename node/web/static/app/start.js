// The start, under-18 and "not offered" pages: only the quick exit needs a script.
import { setUpQuickExit } from "./page.js";

setUpQuickExit();
