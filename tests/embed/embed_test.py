"""Embedding from Python through ctypes, as a PHP or Java host would through its FFI:
a full scenario against librapport.so. Usage: embed_test.py LIBRAPPORT STORE_DIR"""
import ctypes
import json
import os
import sys

lib = ctypes.CDLL(sys.argv[1])
store = os.path.join(sys.argv[2], "python-host.db")
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(store + suffix):
        os.remove(store + suffix)

ACTION_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
lib.rapport_open_yaml.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                  ctypes.POINTER(ctypes.c_void_p)]
lib.rapport_set_action_callback.argtypes = [ctypes.c_void_p, ACTION_FN, ctypes.c_void_p,
                                            ctypes.c_void_p]
lib.rapport_submit_event.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                     ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_void_p)]
lib.rapport_step.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
lib.rapport_query_network.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
lib.rapport_export_student.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                       ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
lib.rapport_free.argtypes = [ctypes.c_void_p]
lib.rapport_close.argtypes = [ctypes.c_void_p]
lib.rapport_version.restype = ctypes.c_char_p

checks = {"passed": 0, "failed": 0}


def check(condition, what):
    if condition:
        checks["passed"] += 1
    else:
        checks["failed"] += 1
        print("check failed:", what, file=sys.stderr)


def take_string(pointer):
    text = ctypes.cast(pointer, ctypes.c_char_p).value.decode()
    lib.rapport_free(pointer)
    return text


def event(eid, etype, subject, data):
    return json.dumps({"specversion": "1.0", "id": eid, "source": "python-host", "type": etype,
                       "time": "2027-03-01T00:00:00Z", "subject": subject, "data": data}).encode()


check(lib.rapport_version() == b"0.1.0", "version")

engine = ctypes.c_void_p()
error = ctypes.c_void_p()
bad = lib.rapport_open_yaml(b"hooks: {thank_yu: {}}\n", ctypes.byref(engine), ctypes.byref(error))
check(bad == 1, "bad config is RAPPORT_ERR_CONFIG")
check("did you mean \"thank_you\"" in take_string(error), "bad config message")

config = ("store: {path: %s}\nhooks: {introductions: {}, thank_you: {due_within: 2d}}\n"
          "sinks: {host: {type: callback}}\n" % store).encode()
check(lib.rapport_open_yaml(config, ctypes.byref(engine), None) == 0, "open")

received = []


@ACTION_FN
def on_action(action_json, _user):
    received.append(json.loads(action_json.decode()))
    return 0


check(lib.rapport_set_action_callback(engine, on_action, None, None) == 0, "callback")
people = [("A1", "attending", "Dr. Py Example"), ("P1", "pharmacist", "Pat Example"),
          ("S1", "student", "Stu Example")]
for pid, role, name in people:
    check(lib.rapport_submit_event(engine, event("p-" + pid, "person.updated", pid,
                                                 {"id": pid, "role": role, "name": name}),
                                   None, None) == 0, "person " + pid)
rotation = {"id": "R9", "student": "S1", "site": "Lakeside", "specialty": "Pediatrics",
            "kind": "elective", "start": "2027-03-01", "end": "2027-03-14",
            "team": [{"person": "A1", "role": "attending"}, {"person": "P1", "role": "pharmacist"}]}
duplicate = ctypes.c_int(-1)
check(lib.rapport_submit_event(engine, event("r-9", "rotation.scheduled", "S1", rotation),
                               ctypes.byref(duplicate), None) == 0, "rotation")
check(duplicate.value == 0, "not a duplicate")

check(lib.rapport_step(engine, b"2027-03-01T00:00:00Z", None) == 0, "step at start")
check(sorted(a["data"]["contact"] for a in received) == ["A1", "P1"], "introductions")
check(lib.rapport_step(engine, b"2027-03-15T00:00:00Z", None) == 0, "step at end")
thanks = [a for a in received if a["data"]["type"] == "thank_you"]
check(len(thanks) == 1 and thanks[0]["data"]["contact"] == "A1", "thank-you to the attending")
check(thanks[0]["data"]["due"] == "2027-03-17T00:00:00Z", "due within 2 days")
check(len({a["id"] for a in received}) == len(received), "ids are unique")

network = ctypes.c_void_p()
check(lib.rapport_query_network(engine, b"S1", b"2027-03-20T00:00:00Z", ctypes.byref(network),
                                None) == 0, "network")
data = json.loads(take_string(network))
check([c["id"] for c in data["contacts"]] == ["A1", "P1"], "contacts")
check(data["contacts"][0]["days_together"] == 14, "days together")
check(len(data["actions"]) == 3, "actions in the network view")
record = ctypes.c_void_p()
check(lib.rapport_export_student(engine, b"S1", ctypes.byref(record), None) == 0, "export")
exported = json.loads(take_string(record))
check(exported["student"] == "S1" and len(exported["actions"]) == 3, "the student's record")
check(exported["kept_out"] is False, "not kept out")
lib.rapport_close(engine)

print("%d passed, %d failed" % (checks["passed"], checks["failed"]))
sys.exit(0 if checks["failed"] == 0 else 1)
