"""Integration tests in Python, run by `npx emulator exec -- python3 -m unittest discover -s tests/python`.

exec starts the services, waits until they are healthy, and passes EMULATOR_PROXY,
EMULATOR_DNS and EMULATOR_URL_<NAME> in the environment. Standard library only.
"""
import json
import os
import unittest
import urllib.error
import urllib.request

PROXY = os.environ["EMULATOR_PROXY"]
GATEWAY = os.environ["EMULATOR_URL_GATEWAY"]
# Inner-call URLs go through the emulator's proxy, like a service's HTTP_PROXY.
as_service = urllib.request.build_opener(urllib.request.ProxyHandler({"http": PROXY}))
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(opener, url):
    try:
        with opener.open(url, timeout=10) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class ShopTest(unittest.TestCase):
    def test_mini_program_reads_an_order(self):
        status, body = get(direct, GATEWAY + "/api/orders/1")
        self.assertEqual(status, 200)
        self.assertEqual(body, {"via": "gateway", "id": 1, "sku": "mug", "user": "alice", "inStock": True})

    def test_orders_called_as_the_gateway(self):
        status, body = get(as_service, "http://gw01-orders.inner-call.dyc.ivolces.com/orders/2")
        self.assertEqual(status, 200)
        self.assertFalse(body["inStock"])

    def test_gateway_may_not_call_inventory(self):
        status, body = get(as_service, "http://gw01-inventory.inner-call.dyc.ivolces.com/stock/mug")
        self.assertEqual(status, 403)
        self.assertEqual(body["error"], "inner_call_denied")


if __name__ == "__main__":
    unittest.main()
