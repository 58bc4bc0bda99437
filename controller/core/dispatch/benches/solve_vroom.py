"""Solves a day in VROOM's JSON input format with pyvroom and prints the
routes as JSON: {"routes": [{"vehicle": id, "jobs": [id, ...]}],
"unassigned": [id, ...], "millis": solve time}.

Usage: python solve_vroom.py INPUT.json [threads] [exploration_level]
"""
import json
import sys
import time

import vroom

path = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
level = int(sys.argv[3]) if len(sys.argv) > 3 else 5
problem = vroom.Input.from_json(path)
t0 = time.perf_counter()
solution = problem.solve(exploration_level=level, nb_threads=threads)
millis = (time.perf_counter() - t0) * 1000
routes = {}
for row in solution.routes.itertuples():
    if row.type == "job":
        routes.setdefault(int(row.vehicle_id), []).append(int(row.id))
unassigned = [int(u["id"]) for u in solution.to_dict().get("unassigned", [])]
json.dump(
    {
        "routes": [{"vehicle": v, "jobs": jobs} for v, jobs in routes.items()],
        "unassigned": unassigned,
        "millis": millis,
    },
    sys.stdout,
)
