#pragma once
// parrun: typed message passing between the ranks of a job started by `parrun -n N prog`.
#include <parrun/communicator.hpp>
#include <parrun/environment.hpp>
#include <parrun/errors.hpp>
#include <parrun/request.hpp>
#include <parrun/status.hpp>
