/** Check 15: rotating the S3 key and the passwords under load, over real SSH (rotation.ts). */
import { describeRotation } from "./rotation";

describeRotation(15, "s3");
