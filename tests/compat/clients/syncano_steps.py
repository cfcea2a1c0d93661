"""Drives Syncano's own Python client (PyPI syncano 5.4.6) against the service; run by .venv-syncano's Python 3.7.

Usage: python syncano_steps.py '<json: host, api_key, user_key, instance, number, new_username, new_password>'
Prints one JSON object: what each step saw. Only the host and the keys differ from a Syncano deployment.
"""

import json
import sys

import syncano
from syncano.exceptions import SyncanoRequestError
from syncano.models import User


def main():
    arg = json.loads(sys.argv[1])
    host, instance, number = arg["host"], arg["instance"], arg["number"]
    out = {}

    # An instance (admin) key: the client sends it as `Authorization: token <key>`.
    syncano.connect(host=host, api_key=arg["api_key"], instance_name=instance)
    user = User.please.get(instance_name=instance, id=number)
    out["get"] = {"id": user.id, "username": user.username, "profile_owner": user.profile.owner}

    updated = User.please.update(id=number, instance_name=instance, data={"username": arg["new_username"]})
    out["patch"] = {"id": updated.id, "username": updated.username}

    try:
        User.please.update(id=number, instance_name=instance, data={"username": "not valid"})
    except SyncanoRequestError as err:
        out["bad"] = {"error": type(err).__name__, "status": err.status_code, "reason": err.reason}

    try:
        User.please.get(instance_name=instance, id=arg["unknown"])
    except User.DoesNotExist as err:
        out["unknown"] = {"error": type(err).__name__, "reason": str(err)}

    # The user's own key, as the seed's example: the documented PUT of username and password.
    syncano.connect(host=host, api_key=arg["api_key"], user_key=arg["user_key"], instance_name=instance)
    mine = User.please.get(instance_name=instance, id=number)
    mine.password = arg["new_password"]
    mine.save()
    out["put"] = {"id": mine.id, "username": mine.username}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
