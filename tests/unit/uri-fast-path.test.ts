// check's connection-string fast path (provider/schema.ts parsePlainMongoUri) never accepts what the driver
// refuses, and reads hosts / SRV name / replica set exactly as the driver does; and validating inputs with plain
// URIs does not load the driver at all (the first `check` used to pay for loading it and building a MongoClient).
import { spawnSync } from "child_process";
import * as path from "path";
import { parsePlainMongoUri, parseWithDriver } from "../../provider/schema";

const URIS = [
  "mongodb://app:s3cretPw@src1.example.com:27017,src2.example.com:27017/?replicaSet=rs0",
  "mongodb+srv://migrator:t4rgetPw@orders.abcde.mongodb.net/",
  "mongodb+srv://u:p@Orders.ABCDE.mongodb.net/shop?retryWrites=true&w=majority&appName=app",
  "mongodb://heroku_abc:pw@ds012345.mlab.com:12345/heroku_abc",
  "mongodb://A.example.COM,b:1/db?replicaSet=rs0",
  "mongodb://a",
  "mongodb://a/",
  "mongodb://a/?",
  "mongodb://10.0.0.1:27017/",
  "mongodb://127.0.0.1:1,127.0.0.1:2/?replicaSet=r&readPreference=secondaryPreferred",
  "mongodb://a/?maxPoolSize=0&connectTimeoutMS=0&serverSelectionTimeoutMS=5000&socketTimeoutMS=0",
  "mongodb://a/?tls=true",
  "mongodb://a/?ssl=false&retryReads=false",
  "mongodb://a/?w=0",
  "mongodb://a/?w=3",
  "mongodb://u%40x:p%3Aw@a/",
  "mongodb://u@a/?authSource=admin",
  // Refused or unusual: the fast path must leave these to the driver (or agree with it).
  "mongodb://a:0",
  "mongodb://a:99999",
  "mongodb://a:027017",
  "mongodb://a/?tls=true&ssl=false",
  "mongodb://a/?retryWrites=1",
  "mongodb://a/?readPreference=Primary",
  "mongodb://a/?readPreferenc=primary",
  "mongodb://a/?replicaSet=rs0&replicaset=rs1",
  "mongodb://a?replicaSet=x",
  "mongodb://u@a/?authSource=",
  "mongodb+srv://u:p@cluster0.example.net:27017",
  "mongodb+srv://a.example.net,b.example.net",
  "mongodb+srv://a.b",
  "mongodb+srv://a.example.net/?directConnection=true",
  "mongodb://a,b/?directConnection=true",
  "mongodb://",
  "mongodb:/db.example.com",
  "mongodb://999.1.1.1",
  "mongodb://a.1",
  "mongodb://xn--nxasmq6b.example.com",
  "mongodb://a_b.example.com",
  "mongodb://[::1]:27017",
  "mongodb://us:er:pw@a",
  "mongodb://p@ss@a",
  "mongodb://:pw@a",
  "mongodb://a/db.name",
  "mongodb://a/?w=majority&w=2",
  "http://db.example.com",
];

function driver(uri: string): unknown {
  try {
    return parseWithDriver(uri);
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

describe("connection-string fast path", () => {
  test.each(URIS)("%s: accepted only as the driver reads it", (uri) => {
    const fast = parsePlainMongoUri(uri);
    if (fast !== undefined) expect(fast).toEqual(driver(uri));
  });

  test("the common shapes take the fast path", () => {
    for (const uri of URIS.slice(0, 17)) expect(parsePlainMongoUri(uri)).toBeDefined();
  });

  test("validating inputs with plain connection strings does not load the driver", () => {
    // A fresh process on the built package (npm test builds dist first): only what check itself loads.
    const dist = path.resolve(__dirname, "../../dist/provider/schema.js");
    const r = spawnSync(
      process.execPath,
      [
        "-e",
        `const s = require(${JSON.stringify(dist)});
         const f = s.validateInputs({ source: { uri: "mongodb://app:pw@src1.example.com:27017,src2.example.com:27017/?replicaSet=rs0" },
           target: { uri: "mongodb+srv://m:pw@orders.abcde.mongodb.net/", atlas: { projectId: "6a0b1c2d3e4f506172839405", clusterName: "orders", tier: "M10" } }, cutover: false });
         const loaded = Object.keys(require.cache).some((k) => /node_modules[\\\\/]mongodb[\\\\/]/.test(k));
         process.stdout.write(JSON.stringify({ failures: f, loaded }));`,
      ],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ failures: [], loaded: false });
  });
});
