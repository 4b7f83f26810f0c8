#pragma once
// parrun: typed message passing between the ranks of a job started by `parrun -n N prog`.
#include <parrun/buffers.hpp>
#include <parrun/cartesian.hpp>
#include <parrun/channel.hpp>
#include <parrun/communicator.hpp>
#include <parrun/environment.hpp>
#include <parrun/errors.hpp>
#include <parrun/ops.hpp>
#include <parrun/pool.hpp>
#include <parrun/request.hpp>
#include <parrun/select.hpp>
#include <parrun/status.hpp>
#include <parrun/version.hpp>
