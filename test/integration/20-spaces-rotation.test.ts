/**
 * Check 20: rotating the Spaces key and the passwords under load, over real SSH (rotation.ts),
 * with the registry on the program's Spaces storage section behind the Spaces stand-in.
 */
import { describeRotation } from "./rotation";

describeRotation(20, "spaces");
