import { describe, expect, it } from "vitest";
import { clientNetwork } from "../../src/http/client-network.ts";

/** Who counts as one client (src/http/client-network.ts): an IPv6 /64, an IPv4 address. */
describe("a client is its IPv6 /64", () => {
  it("every address of one /64, in any text form, is one client", () => {
    const forms = [
      "2001:db8:1:2::1",
      "2001:db8:1:2::2",
      "2001:db8:1:2:ffff:ffff:ffff:ffff",
      "2001:0DB8:0001:0002:0000:0000:0000:0003",
      "2001:db8:1:2:aaaa::",
      "[2001:db8:1:2::4]",
      "2001:db8:1:2::5%eth0",
      "2001:db8:1:2::6.7.8.9",
      " 2001:db8:1:2::7 ",
    ];
    expect(new Set(forms.map(clientNetwork))).toEqual(new Set(["v6 2001:db8:1:2::/64"]));
  });

  it("the boundary is the 64th bit: one bit below is the same client, one bit above another", () => {
    const base = clientNetwork("2001:db8:1:2::");
    // Bit 65 (the interface id's first): same client.
    expect(clientNetwork("2001:db8:1:2:8000::")).toBe(base);
    // Bit 64 (the prefix's last): another client.
    expect(clientNetwork("2001:db8:1:3::")).not.toBe(base);
    expect(clientNetwork("2001:db8:1:3::")).toBe("v6 2001:db8:1:3::/64");
  });

  it("two /64s are two clients", () => {
    expect(clientNetwork("2001:db8:a::1")).not.toBe(clientNetwork("2001:db8:b::1"));
    expect(clientNetwork("::1")).toBe("v6 0:0:0:0::/64");
  });
});

describe("an IPv4 client is its address", () => {
  it("unchanged: each address is its own client", () => {
    expect(clientNetwork("203.0.113.7")).toBe("v4 203.0.113.7");
    expect(clientNetwork("203.0.113.8")).not.toBe(clientNetwork("203.0.113.7"));
    expect(clientNetwork("0.0.0.0")).toBe("v4 0.0.0.0");
    expect(clientNetwork("255.255.255.255")).toBe("v4 255.255.255.255");
  });

  it("IPv4-mapped IPv6 is the IPv4 address (dotted or hex), not ::ffff:0:0/64", () => {
    for (const mapped of [
      "::ffff:203.0.113.7",
      "::FFFF:203.0.113.7",
      "::ffff:cb00:7107",
      "0:0:0:0:0:ffff:203.0.113.7",
    ])
      expect(clientNetwork(mapped), mapped).toBe("v4 203.0.113.7");
    // Not mapped: the ::ffff:0:0/96 prefix only.
    expect(clientNetwork("::fffe:203.0.113.7")).toBe("v6 0:0:0:0::/64");
    expect(clientNetwork("1::ffff:203.0.113.7")).toBe("v6 1:0:0:0::/64");
  });
});

describe("a malformed or missing address", () => {
  it("is one client, unknown (never an error, never one client per string)", () => {
    for (const bad of [
      undefined,
      "",
      "garbage",
      "1.2.3",
      "1.2.3.4.5",
      "1.2.3.256",
      "1.2.3.-1",
      "1.2.3.4/24",
      "1.2.3.0004",
      "2001:db8::1::2",
      "2001:db8:1:2:3:4:5:6:7",
      "2001:db8:1:2:3:4:5",
      "12345::",
      "::g",
      ":1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:",
      ":::",
      "1.2.3.4::",
      "::1.2.3.256",
      "1:2:3:4:5:6:7:8::",
      "x".repeat(1000),
    ])
      expect(clientNetwork(bad), String(bad)).toBe("unknown");
  });

  it("just inside the forms: the largest values and both ends of ::", () => {
    expect(clientNetwork("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).toBe(
      "v6 ffff:ffff:ffff:ffff::/64",
    );
    expect(clientNetwork("::")).toBe("v6 0:0:0:0::/64");
    expect(clientNetwork("1::")).toBe("v6 1:0:0:0::/64");
    expect(clientNetwork("1:2:3:4:5:6:7::")).toBe("v6 1:2:3:4::/64");
    expect(clientNetwork("::2:3:4:5:6:7:8")).toBe("v6 0:2:3:4::/64");
  });
});
