% gen_gmlf.m: makes gmlf.json (and the generated test images), the reference for baselines/gmlf.
%
% Runs the authors' GM-LOG release function Grad_LOG_CP_TIP.m (Xue, Mou, Zhang, Bovik, Feng, TIP 2014;
% the file as the release ships it, e.g. the copy found by the code search with its header "Grad_LOG_CP_TIP
% - measure the distortion degree of distorted image 'imd'") unchanged in Octave 7.3 + octave-image 2.14
% (Debian 12), on double(rgb2gray(im)) as the release's demo calls it. The .m file is not in this
% repository: put it in a folder and run, from this folder,
%
%   GMLOG_SRC=/path/to/folder CALIBRA=../../../../shared/data/calibra octave --no-gui -q gen_gmlf.m
%
% Shims (Octave functions missing or not MATLAB's):
% - hist3 (MATLAB Statistics Toolbox; Octave has none): bins as MATLAB's hist3(X, ctrs) does, edges
%   halfway between the centres, the outer bins open to -Inf / +Inf, rows with NaN ignored.
% - fspecial 'log' and 'gaussian': octave-image's 'log' is not MATLAB's (MATLAB normalises the Gaussian,
%   scales by 1/sigma^4 and then subtracts the mean so the kernel sums to zero; Octave does neither), and
%   GM-LOG's sum(abs) normalisation does not cancel the missing zero-sum shift. The shim is fspecial.m's
%   algorithm as MATLAB documents and ships it (including h(h < eps*max(h)) = 0).
% - rgb2gray: MATLAB's weights (0.298936021293775, 0.587043074451121, 0.114020904255103), rounded to
%   uint8; Octave 7's uses 6-digit weights, which moves pixels near a half by one grey level.
1;
function I = rgb2gray(rgb)
  % MATLAB's rgb2gray on uint8: its full-precision weights, summed in double, rounded to uint8.
  % (Octave 7's rgb2gray uses 6-digit weights and differs on pixels near a half.)
  c = [0.298936021293775 0.587043074451121 0.114020904255103];
  I = double(rgb(:,:,1))*c(1) + double(rgb(:,:,2))*c(2) + double(rgb(:,:,3))*c(3);
  if isa(rgb, 'uint8'), I = uint8(I); end
end
function h = fspecial(type, hsize, sigma)
  if isscalar(hsize), hsize = [hsize hsize]; end
  s = (hsize - 1)/2;
  [x, y] = meshgrid(-s(2):s(2), -s(1):s(1));
  arg = -(x.*x + y.*y)/(2*(sigma*sigma));
  h = exp(arg);
  h(h < eps*max(h(:))) = 0;
  sumh = sum(h(:));
  if sumh ~= 0, h = h/sumh; end
  switch type
    case 'gaussian'
    case 'log'
      h1 = h.*(x.*x + y.*y - 2*(sigma*sigma))/((sigma*sigma)^2);
      h = h1 - sum(h1(:))/prod(hsize);
    otherwise
      error('fspecial shim: %s not shimmed', type);
  end
end
function N = hist3(X, ctrs)
  ok = ~any(isnan(X), 2);
  X = X(ok, :);
  b = ones(size(X));
  for d = 1:2
    c = ctrs{d}(:)';
    mids = c(1:end-1) + diff(c)/2;
    for k = 1:numel(mids)
      b(:, d) += (X(:, d) >= mids(k));
    end
  end
  N = accumarray(b, 1, [numel(ctrs{1}) numel(ctrs{2})]);
end
function s = jvec(v)
  s = strjoin(arrayfun(@(x) sprintf('%.17g', x), v(:)', 'UniformOutput', false), ',');
end
function im = generated(k)
  % Deterministic test images (no RNG): texture, low contrast, small.
  switch k
    case 1, [x, y] = meshgrid(0:130, 0:96);
      im = cat(3, 128 + 60*sin(x/5).*cos(y/7) + 30*sin((x+2*y)/3), ...
                  120 + 50*cos(x/11 + y/4), 100 + 0.8*x + 40*sin(x.*y/90));
    case 2, [x, y] = meshgrid(0:89, 0:119);
      im = cat(3, 120 + 10*sin(x/9 + y/13) + 5*mod(x.*y, 7)/7, ...
                  118 + 8*cos(y/6), 125 + 6*sin(x/3));
    case 3, [x, y] = meshgrid(0:39, 0:31);
      im = cat(3, 40 + 180*mod(floor(x/4) + floor(y/4), 2), 4*x + 2*y, 255 - 5*y);
  end
  im = uint8(im);
end

pkg load image
addpath(getenv('GMLOG_SRC'));
calibra = getenv('CALIBRA');
names = {'I03','I04','I06','I08','I19','G0','G1','G2','G3','G4','G5','gen1','gen2','gen3'};
parts = {};
for i = 1:numel(names)
  if strncmp(names{i}, 'gen', 3)
    im = generated(str2double(names{i}(4:end)));
    imwrite(im, [names{i} '.png']);
    path = [names{i} '.png'];
  else
    im = imread(fullfile(calibra, [names{i} '.png']));
    path = ['calibra/' names{i} '.png'];
  end
  f = Grad_LOG_CP_TIP(double(rgb2gray(im)));
  parts{end+1} = sprintf('{"name":"%s","file":"%s","features":[%s]}', names{i}, path, jvec(f));
end
how = ['gen_gmlf.m: Grad_LOG_CP_TIP.m (GM-LOG release) on double(rgb2gray(im)) in Octave ' version() ...
       ' + image ' pkg('describe', 'image'){1}.version '; hist3 and fspecial(log, gaussian) and rgb2gray shimmed as MATLAB computes them'];
fid = fopen('gmlf.json', 'w');
fprintf(fid, '{"how":"%s","images":[\n%s\n]}\n', how, strjoin(parts, sprintf(',\n')));
fclose(fid);
